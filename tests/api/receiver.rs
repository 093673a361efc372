//! A webhook receiver on 127.0.0.1: records every request (headers, raw body) and answers as told,
//! and checks `X-Switchboard-Signature` the way a tenant's server would.

use crate::helpers::eventually;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Response};
use serde_json::Value;
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How many times `Answer::Flaky` fails one delivery at most.
const FLAKY_STREAK: usize = 3;

/// How the receiver answers.
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    /// Always this status.
    Status(u16),
    /// 500 half the time, at random, else 200; but a delivery at most `FLAKY_STREAK` times, so its
    /// exponential backoff stays short (unbounded, one in a thousand deliveries failing ten times in a row
    /// waited 10-300 s and made a run take minutes).
    Flaky,
    /// 500 for the first `n` requests, then 200.
    FailFirst(usize),
}

/// One request as received, and what it was answered.
#[derive(Clone, Debug)]
pub struct Received {
    pub signature: String,
    pub event: String,
    pub delivery: String,
    pub body: String,
    pub json: Value,
    pub answered: u16,
    /// When it arrived, epoch ms.
    pub at_ms: i64,
}

pub struct Receiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    answer: Arc<Mutex<Answer>>,
}

impl Receiver {
    pub async fn start(answer: Answer) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("receiver binds");
        let url = format!("http://127.0.0.1:{}/hook", listener.local_addr().expect("address").port());
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let answer = Arc::new(Mutex::new(answer));
        let (kept, how) = (received.clone(), answer.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (kept, how) = (kept.clone(), how.clone());
                let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let (kept, how) = (kept.clone(), how.clone());
                    async move { Ok::<_, hyper::Error>(record(request, &kept, &how).await) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(io, service));
            }
        });
        Self { url, received, answer }
    }

    pub fn answer(&self, answer: Answer) {
        *self.answer.lock().expect("lock") = answer;
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    /// Waits until `done` holds for what was received (at most `within`), then returns it.
    pub async fn wait_for(&self, within: Duration, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        eventually(within, async || {
            let received = self.received();
            match done(&received) {
                true => Ok(received),
                false => Err(format!("receiver still waiting; got {} requests", received.len())),
            }
        })
        .await
    }
}

async fn record(
    request: Request<hyper::body::Incoming>,
    kept: &Mutex<Vec<Received>>,
    how: &Mutex<Answer>,
) -> Response<Full<Bytes>> {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (signature, event, delivery) =
        (header("x-switchboard-signature"), header("x-switchboard-event"), header("x-switchboard-delivery"));
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let body = String::from_utf8_lossy(&body).into_owned();
    let mut kept = kept.lock().expect("lock");
    let answered = match *how.lock().expect("lock") {
        Answer::Status(status) => status,
        Answer::Flaky => {
            let failed = kept.iter().filter(|r| r.delivery == delivery && r.answered == 500).count();
            if failed < FLAKY_STREAK && rand::random::<bool>() {
                500
            } else {
                200
            }
        }
        Answer::FailFirst(n) => {
            if kept.len() < n {
                500
            } else {
                200
            }
        }
    };
    let json = serde_json::from_str(&body).unwrap_or(Value::Null);
    kept.push(Received { signature, event, delivery, body, json, answered, at_ms: now_ms() });
    let mut response = Response::new(Full::new(Bytes::from(format!("answered {answered}"))));
    *response.status_mut() = hyper::StatusCode::from_u16(answered).expect("a status");
    response
}

/// Whether `signature` (the header) carries a `v1` that `secret` made over `t.body`, with `t` within 5 minutes.
pub fn verifies(signature: &str, secret: &str, body: &str) -> bool {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in signature.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => candidates.push(v.to_owned()),
            _ => {}
        }
    }
    let Some(t) = timestamp else { return false };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    if (i64::try_from(now).expect("now") - t).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(format!("{t}.{body}").as_bytes());
    let expected = hex::encode(mac.finalize().into_bytes());
    candidates.contains(&expected)
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
    i64::try_from(since.as_millis()).expect("ms fit")
}
