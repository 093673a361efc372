//! The Engine.IO v4 / Socket.IO v5 packets a dashboard exchanges over a bare WebSocket, one text frame
//! each: `0{…}` open, `2`/`3` ping and pong, `1` close, and Socket.IO's packets inside Engine.IO's
//! message (`4`): `40` connect, `41` disconnect, `42` event, `43` ack, `44` connect error, `45` binary event.

use serde_json::{json, Value};

/// The namespace dashboards connect to; any other is refused.
const ROOT: &str = "/";

/// A packet from the client.
#[derive(Debug, PartialEq)]
pub(super) enum Inbound {
    /// Engine.IO ping (answered with a pong) or pong (the answer to ours).
    Ping,
    /// The answer to our ping.
    Pong,
    /// The client closes the Engine.IO session, or leaves the namespace.
    Close,
    /// Socket.IO connect to `namespace`, with the auth payload.
    Connect { namespace: String, auth: Option<Value> },
    /// An event: its name, its first argument, and the ack id when the client waits for an answer.
    Event { ack: Option<u64>, name: String, data: Value },
    /// A binary event: not accepted; answered through its ack when it has one.
    Binary { ack: Option<u64> },
    /// Anything else (noop, upgrade, acks to us, other namespaces' packets): ignored.
    Ignored,
    /// Not a packet of the protocol.
    Malformed(&'static str),
}

impl Inbound {
    /// Parses one text frame.
    pub(super) fn parse(frame: &str) -> Self {
        let mut chars = frame.chars();
        match chars.next() {
            Some('2') => Inbound::Ping,
            Some('3') => Inbound::Pong,
            Some('1') => Inbound::Close,
            Some('4') => socketio(chars.as_str()),
            Some('5' | '6') => Inbound::Ignored,
            _ => Inbound::Malformed("not an Engine.IO packet"),
        }
    }
}

/// A Socket.IO packet: its type, then `/namespace,` unless it is the root, then an ack id, then JSON.
fn socketio(packet: &str) -> Inbound {
    let Some(kind) = packet.chars().next() else { return Inbound::Malformed("empty Socket.IO packet") };
    let mut rest = &packet[kind.len_utf8()..];
    if kind == '5' {
        // Binary: the attachments' count and a dash come first.
        rest = rest.split_once('-').map_or("", |(_, after)| after);
    }
    let namespace = match rest.strip_prefix('/') {
        Some(named) => {
            let (name, after) = named.split_once(',').unwrap_or((named, ""));
            rest = after;
            format!("/{name}")
        }
        None => ROOT.to_owned(),
    };
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let ack = rest[..digits].parse().ok();
    let json = &rest[digits..];
    match kind {
        '0' => {
            let auth = if json.is_empty() { None } else { serde_json::from_str(json).ok() };
            Inbound::Connect { namespace, auth }
        }
        _ if namespace != ROOT => Inbound::Ignored,
        '1' => Inbound::Close,
        '2' => match serde_json::from_str::<Vec<Value>>(json) {
            Ok(args) => {
                let mut args = args.into_iter();
                match args.next() {
                    Some(Value::String(name)) => Inbound::Event { ack, name, data: args.next().unwrap_or(Value::Null) },
                    _ => Inbound::Malformed("an event is a JSON array that starts with its name"),
                }
            }
            Err(_) => Inbound::Malformed("an event is a JSON array that starts with its name"),
        },
        '5' => Inbound::Binary { ack },
        '3' | '6' => Inbound::Ignored,
        _ => Inbound::Malformed("unknown Socket.IO packet type"),
    }
}

/// Engine.IO's open packet: the session id and the heartbeat's timing.
pub(super) fn open(sid: &str, ping_interval_ms: u128, ping_timeout_ms: u128, max_payload: usize) -> String {
    let open = json!({
        "sid": sid,
        "upgrades": [],
        "pingInterval": ping_interval_ms,
        "pingTimeout": ping_timeout_ms,
        "maxPayload": max_payload,
    });
    format!("0{open}")
}

/// Socket.IO's connect answer for the root namespace.
pub(super) fn connected(sid: &str) -> String {
    format!("40{}", json!({ "sid": sid }))
}

/// Socket.IO's connect error for `namespace`: the client's `connect_error` with `message`.
pub(super) fn connect_error(namespace: &str, message: &str) -> String {
    let data = json!({ "message": message });
    if namespace == ROOT {
        format!("44{data}")
    } else {
        format!("44{namespace},{data}")
    }
}

/// An event to the client.
pub(super) fn event(name: &str, data: &Value) -> String {
    format!("42{}", json!([name, data]))
}

/// The answer to the client's event `ack`.
pub(super) fn ack(id: u64, answer: &Value) -> String {
    format!("43{id}{}", json!([answer]))
}

/// Engine.IO's ping.
pub(super) const PING: &str = "2";
/// Engine.IO's pong.
pub(super) const PONG: &str = "3";
/// Socket.IO's disconnect from the root namespace: the client's `io server disconnect`.
pub(super) const DISCONNECT: &str = "41";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_packets_parse() {
        assert_eq!(Inbound::parse("3"), Inbound::Pong);
        assert_eq!(Inbound::parse("40"), Inbound::Connect { namespace: "/".into(), auth: None });
        assert_eq!(
            Inbound::parse(r#"40{"token":"t"}"#),
            Inbound::Connect { namespace: "/".into(), auth: Some(json!({"token": "t"})) }
        );
        assert_eq!(Inbound::parse("40/admin,"), Inbound::Connect { namespace: "/admin".into(), auth: None });
        assert_eq!(
            Inbound::parse(r#"4212["message:send",{"text":"hi"},2]"#),
            Inbound::Event { ack: Some(12), name: "message:send".into(), data: json!({"text": "hi"}) }
        );
        assert_eq!(
            Inbound::parse(r#"42["typing"]"#),
            Inbound::Event { ack: None, name: "typing".into(), data: Value::Null }
        );
        assert_eq!(Inbound::parse(r#"42/admin,["typing"]"#), Inbound::Ignored);
        assert_eq!(Inbound::parse(r#"451-7["x",{"_placeholder":true,"num":0}]"#), Inbound::Binary { ack: Some(7) });
        assert_eq!(Inbound::parse("41"), Inbound::Close);
        assert!(matches!(Inbound::parse("42{}"), Inbound::Malformed(_)));
        assert!(matches!(Inbound::parse("42[1]"), Inbound::Malformed(_)));
        assert!(matches!(Inbound::parse(""), Inbound::Malformed(_)));
        assert!(matches!(Inbound::parse("4"), Inbound::Malformed(_)));
    }

    #[test]
    fn server_packets_encode() {
        assert_eq!(ack(3, &json!({"ok": true})), r#"433[{"ok":true}]"#);
        assert_eq!(event("recovery:ready", &json!({"offset": 1})), r#"42["recovery:ready",{"offset":1}]"#);
        assert_eq!(connect_error("/", "no"), r#"44{"message":"no"}"#);
        assert_eq!(connect_error("/x", "no"), r#"44/x,{"message":"no"}"#);
        let opened: Value = serde_json::from_str(&open("s", 25000, 20000, 65536)[1..]).unwrap();
        assert_eq!(
            opened,
            json!({"sid": "s", "upgrades": [], "pingInterval": 25000, "pingTimeout": 20000, "maxPayload": 65536})
        );
        assert!(matches!(Inbound::parse("4é"), Inbound::Malformed(_)));
    }
}
