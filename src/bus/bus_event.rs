//! An event as it travels to sockets: with its place in the license's history, serialised at most once.

use super::{Event, Position};
use actix_http::ws::{OpCode, Parser};
use bytes::{Bytes, BytesMut};
use serde_json::{json, Value};
use std::sync::OnceLock;

/// An event as it travels: serialised at most once, however many sockets it goes to.
#[derive(Debug)]
pub struct BusEvent {
    /// The event.
    pub event: Event,
    /// Whether another node published it.
    pub remote: bool,
    /// When this node got it (published here, or relayed from another node).
    pub received: std::time::Instant,
    /// Its place in the license's history; `None` for what is not history (each node's own metrics,
    /// presence and usage warnings, or an event published while Redis was away).
    pub position: Option<Position>,
    name: &'static str,
    data: OnceLock<Value>,
    frame: OnceLock<String>,
    socketio_data: OnceLock<Value>,
    socketio_frame: OnceLock<String>,
    ws_frame: OnceLock<Bytes>,
    socketio_ws_frame: OnceLock<Bytes>,
}

impl BusEvent {
    /// Wraps an event that has no place in the history.
    pub fn new(event: Event) -> Self {
        Self {
            name: event.name(),
            event,
            remote: false,
            received: std::time::Instant::now(),
            position: None,
            data: OnceLock::new(),
            frame: OnceLock::new(),
            socketio_data: OnceLock::new(),
            socketio_frame: OnceLock::new(),
            ws_frame: OnceLock::new(),
            socketio_ws_frame: OnceLock::new(),
        }
    }

    /// Wraps an event another node published without a position (a node of an older release).
    pub fn from_remote(event: Event) -> Self {
        Self { remote: true, ..Self::new(event) }
    }

    /// Wraps an event at `position` of its license's history; `remote` if another node published it.
    pub fn at(event: Event, position: Position, remote: bool) -> Self {
        Self { remote, position: Some(position), ..Self::new(event) }
    }

    /// The event's wire name, e.g. `message:new`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The event's payload as JSON.
    pub fn data(&self) -> &Value {
        self.data.get_or_init(|| {
            let mut whole = serde_json::to_value(&self.event).unwrap_or_default();
            whole.get_mut("data").map(Value::take).unwrap_or_default()
        })
    }

    /// The `{"event", "data", "offset", "epoch"}` frame of the plain dashboard WebSocket (no `offset`
    /// and `epoch` when the event has no place in the history).
    pub fn frame(&self) -> &str {
        self.frame.get_or_init(|| {
            let mut frame = json!({ "event": self.name, "data": self.data() });
            if let Some(position) = &self.position {
                frame["offset"] = json!(position.offset);
                frame["epoch"] = json!(position.epoch);
            }
            frame.to_string()
        })
    }

    /// The Socket.IO argument: the payload with `_offset` and `_epoch` added when the event has a place in
    /// the history. One argument, so clients whose handlers take `(data)` keep working (Python's would
    /// fail on a second one).
    pub fn socketio_data(&self) -> &Value {
        self.socketio_data.get_or_init(|| {
            let mut data = self.data().clone();
            if let (Some(position), Some(fields)) = (&self.position, data.as_object_mut()) {
                fields.insert("_offset".into(), json!(position.offset));
                fields.insert("_epoch".into(), json!(position.epoch));
            }
            data
        })
    }

    /// The Socket.IO event packet, `42["name",data]` ([`Self::socketio_data`]), as Socket.IO's WebSocket
    /// transport sends it in one text frame.
    pub fn socketio_frame(&self) -> &str {
        self.socketio_frame.get_or_init(|| {
            let packet = serde_json::to_string(&(self.name, self.socketio_data())).unwrap_or_default();
            format!("42{packet}")
        })
    }

    /// [`Self::frame`] as a whole WebSocket text frame from the server: the bytes every plain dashboard
    /// socket writes, framed once rather than once a socket.
    pub fn ws_frame(&self) -> &Bytes {
        self.ws_frame.get_or_init(|| text_frame(self.frame()))
    }

    /// [`Self::socketio_frame`] as a whole WebSocket text frame from the server, framed once for every
    /// Socket.IO socket.
    pub fn socketio_ws_frame(&self) -> &Bytes {
        self.socketio_ws_frame.get_or_init(|| text_frame(self.socketio_frame()))
    }
}

/// `text` as one unmasked, final WebSocket text frame (a server's).
fn text_frame(text: &str) -> Bytes {
    let mut frame = BytesMut::with_capacity(text.len() + 10);
    Parser::write_message(&mut frame, text, OpCode::Text, true, false);
    frame.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::Activity;

    #[test]
    fn frames_carry_the_position_when_there_is_one() -> serde_json::Result<()> {
        let event = Event::Activity(Activity::VisitorPresence { online: vec!["v1".into()], offline: Vec::new() });
        let plain = BusEvent::new(event.clone());
        assert_eq!(plain.name(), "activity:new");
        assert_eq!(serde_json::from_str::<Value>(plain.frame())?, serde_json::to_value(&event)?);
        assert_eq!(plain.socketio_data(), plain.data());

        let placed = BusEvent::at(event, Position { epoch: "e1".into(), offset: 7 }, false);
        let frame: Value = serde_json::from_str(placed.frame())?;
        assert_eq!((frame["offset"].as_u64(), frame["epoch"].as_str()), (Some(7), Some("e1")));
        assert_eq!(frame["data"]["online"][0], "v1");
        assert_eq!(placed.socketio_data()["_offset"], 7);
        assert_eq!(placed.socketio_data()["_epoch"], "e1");
        assert_eq!(placed.socketio_data()["type"], "visitor_presence");
        let packet: Value = serde_json::from_str(placed.socketio_frame().strip_prefix("42").unwrap_or_default())?;
        assert_eq!(packet, json!(["activity:new", placed.socketio_data()]));
        Ok(())
    }

    /// The framed bytes decode, as a client reads them, to the frames' text.
    #[test]
    fn framed_once_they_decode_to_the_same_text() -> anyhow::Result<()> {
        use actix_codec::Decoder;
        use actix_http::ws::{Codec, Frame};
        let long = "x".repeat(70_000);
        let event = Event::Activity(Activity::VisitorPresence { online: vec![long], offline: Vec::new() });
        let placed = BusEvent::at(event, Position { epoch: "e1".into(), offset: 7 }, false);
        for (bytes, text) in
            [(placed.ws_frame(), placed.frame()), (placed.socketio_ws_frame(), placed.socketio_frame())]
        {
            let mut buf = BytesMut::from(&bytes[..]);
            let decoded = Codec::new().max_size(1 << 20).client_mode().decode(&mut buf)?;
            assert!(matches!(decoded, Some(Frame::Text(got)) if got == text.as_bytes()));
            assert!(buf.is_empty(), "one frame, nothing after it");
        }
        Ok(())
    }
}
