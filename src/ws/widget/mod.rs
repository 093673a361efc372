//! The widget WebSocket loop (`GET /ws/widget`, upgraded in `http::sockets`): a visitor's live chat,
//! one [`WidgetSession`] per socket.

mod frames;
mod session;

pub use session::{SocketContext, Visitor, WidgetSession};
