//! The relay's direct writes on real TCP connections: frames stay whole and in order when the client
//! falls behind, a client that stops reading is cut, and a seat passes exactly the events after its
//! replay, and none once it is left.

use super::line_io::LineIo;
use super::Room;
use crate::bus::{Activity, BusEvent, Cursor, Event, Position};
use crate::domain::UserId;
use crate::ws::line::{Cut, Line};
use crate::ws::relay::Fanout;
use crate::ws::room::Seat;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A connected pair: the server's line and the client's end.
async fn connected() -> anyhow::Result<(Arc<Line>, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let client = TcpStream::connect(listener.local_addr()?).await?;
    let (server, _) = listener.accept().await?;
    Ok((Arc::new(Line::new(server)), client))
}

/// A 16 KiB record that names itself, so the reader can tell order and wholeness.
fn record(from: &str, number: usize) -> Vec<u8> {
    let mut record = format!("<{from}{number:05}:").into_bytes();
    record.resize(16 * 1024 - 1, b'.');
    record.push(b'>');
    record
}

/// Relays a record through `line`, noting it in what the client should get.
fn relay(line: &Line, expected: &mut Vec<u8>, from: &str, number: usize) {
    let record = record(from, number);
    line.relay(&Bytes::from(record.clone()));
    expected.extend(record);
}

/// The socket's task as far as the line is concerned: writes what waits until the line is cut.
fn drive(line: &Arc<Line>) -> tokio::task::JoinHandle<Cut> {
    let line = line.clone();
    tokio::spawn(async move { std::future::poll_fn(|cx| line.poll_cut(cx)).await })
}

#[tokio::test]
async fn frames_stay_whole_and_in_order_when_the_client_falls_behind() -> anyhow::Result<()> {
    let (line, mut client) = connected().await?;
    let mut io = LineIo::new(line.clone(), Bytes::new());
    let mut expected = Vec::new();
    // The client reads nothing until the kernel's buffers are full and frames wait in the line.
    let mut number = 0;
    while line.waiting_since().is_none() {
        relay(&line, &mut expected, "relay", number);
        number += 1;
    }
    for _ in 0..8 {
        relay(&line, &mut expected, "relay", number);
        number += 1;
    }
    io.write_all(&record("task", number)).await?;
    expected.extend(record("task", number));
    // The client takes some: the kernel has room again while frames still wait. A frame relayed now
    // must still go behind them.
    let mut received = vec![0; 1024 * 1024];
    client.read_exact(&mut received).await?;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(line.waiting_since().is_some(), "frames still wait for the client");
    relay(&line, &mut expected, "late", number + 1);
    let rest = expected.len() - received.len();
    let reader = tokio::spawn(async move {
        let mut rest = vec![0; rest];
        client.read_exact(&mut rest).await.map(|_| rest)
    });
    tokio::time::timeout(Duration::from_secs(20), io.flush()).await??;
    received.extend(tokio::time::timeout(Duration::from_secs(20), reader).await???);
    assert!(received == expected, "the bytes arrived out of order or torn");
    assert_eq!(line.waiting_since(), None, "nothing waits once the client took it all");
    Ok(())
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_as_too_slow() -> anyhow::Result<()> {
    let (line, _client) = connected().await?;
    let driver = drive(&line);
    let frame = Bytes::from(record("relay", 0));
    for _ in 0..Line::MAX_UNSENT * 2 {
        line.relay(&frame);
    }
    let cut = tokio::time::timeout(Duration::from_secs(5), driver).await??;
    assert_eq!(cut, Cut::TooSlow);
    Ok(())
}

fn presence(visitor: &str, offset: u64) -> Arc<BusEvent> {
    let event = Event::Activity(Activity::VisitorPresence { online: vec![visitor.into()], offline: Vec::new() });
    Arc::new(BusEvent::at(event, Position { epoch: "e1".into(), offset }, false))
}

#[tokio::test]
async fn a_seat_passes_what_follows_its_replay_then_live_events_until_it_is_left() -> anyhow::Result<()> {
    let (line, mut client) = connected().await?;
    let room = Room::open();
    let seat =
        Arc::new(Seat::new(line.clone(), "session-1".into(), UserId::parse("7990497e-c385-4e95-bdf1-7ab8cef00fda")?));
    let membership = room.enter(seat.clone());
    // Events 1–4 come while the socket is being sent its replay, which covered up to 2.
    for offset in 1..=4 {
        assert!(room.pass(presence(&format!("visitor-{offset:02}"), offset)));
    }
    seat.go_live(Cursor::new(Some(Position { epoch: "e1".into(), offset: 2 })));
    room.pass(presence("visitor-05", 5));
    drop(membership);
    assert!(room.idle(), "a left seat is out of the room");
    room.pass(presence("visitor-06", 6));
    let mut received = Vec::new();
    // Whatever was written is on the loopback connection already; a short read window is enough.
    let _ = tokio::time::timeout(Duration::from_millis(300), async {
        while client.read_buf(&mut received).await.is_ok_and(|n| n > 0) {}
    })
    .await;
    let received = String::from_utf8_lossy(&received);
    let seen: Vec<_> = (1..=6).filter(|n| received.contains(&format!("visitor-{n:02}"))).collect();
    assert_eq!(seen, [3, 4, 5], "{received}");
    Ok(())
}

/// A plain dashboard's line gets its connection only once the 101 is written: what is written before
/// waits, and goes out first, in order, once the line is connected.
#[tokio::test]
async fn an_unconnected_line_keeps_what_is_written_until_it_is_connected() -> anyhow::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let mut client = TcpStream::connect(listener.local_addr()?).await?;
    let (server, _) = listener.accept().await?;
    let line = Arc::new(Line::unconnected());
    let mut expected = Vec::new();
    relay(&line, &mut expected, "relay", 0);
    line.push(&record("task", 1)).map_err(|cut| anyhow::anyhow!("{cut:?}"))?;
    expected.extend(record("task", 1));
    assert!(line.waiting_since().is_some(), "nothing can be written yet");
    let (_read, write) = server.into_split();
    line.connect(write);
    let last = record("task", 2);
    expected.extend(&last);
    let reader = tokio::spawn(async move {
        let mut received = vec![0; expected.len()];
        client.read_exact(&mut received).await.map(|_| (received, expected))
    });
    tokio::time::timeout(Duration::from_secs(5), line.send(&last)).await?.map_err(|err| anyhow::anyhow!("{err:?}"))?;
    let (received, expected) = tokio::time::timeout(Duration::from_secs(5), reader).await???;
    assert!(received == expected, "the bytes arrived out of order or torn");
    assert_eq!(line.waiting_since(), None);
    Ok(())
}
