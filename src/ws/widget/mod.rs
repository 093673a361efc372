//! The widget WebSocket loop (`GET /ws/widget`, upgraded in `http::sockets`): a visitor's live chat,
//! one [`WidgetSession`] per socket; [`WidgetHub`] pushes commands and configurations to them from any node.

mod frames;
mod hub;
mod session;

pub use hub::{Reach, WidgetHub};

pub use session::{SocketContext, Visitor, WidgetSession};
