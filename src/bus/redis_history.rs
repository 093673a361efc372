//! The license histories of the multi-node bus, in Redis: `<prefix>license:<key>:stream` is a capped
//! stream (`MAXLEN window`, exact: trimming one entry per append is cheap) whose entry ids are the offsets, and `<prefix>license:<key>:stream:meta`
//! holds the epoch and the last offset. One script numbers a license's events, appends and publishes them, so the
//! offsets, the stream and the pub/sub order agree on every node. Both keys expire after a day without
//! events; a license whose keys are gone starts a new epoch (and its dashboards refetch).

use super::history::{new_epoch, CatchUp, Position};
use super::{BusEvent, Event};
use crate::domain::LicenseKey;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Seconds a license's history outlives its last event.
const HISTORY_TTL_SECONDS: u64 = 24 * 3600;

/// Numbers, appends and publishes a license's events, in order. KEYS: meta, stream. ARGV: window, a
/// fresh epoch, rotate (`1`: the history has a hole, start a new epoch), the TTL, the pub/sub channel,
/// then the envelopes. One call per license per batch: the keys' bookkeeping (epoch, expiry) and the
/// script's own dispatch are paid once, not per event.
const APPEND: &str = r"
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if (not epoch) or ARGV[3] == '1' then
  epoch = ARGV[2]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'offset', 0)
end
local count = #ARGV - 5
local last = redis.call('HINCRBY', KEYS[1], 'offset', count)
local window = tonumber(ARGV[1])
for i = 1, count do
  local offset = last - count + i
  if window > 0 then
    redis.call('XADD', KEYS[2], 'MAXLEN', window, offset .. '-0', 'e', ARGV[5 + i])
  end
  redis.call('PUBLISH', ARGV[5], offset .. ' ' .. epoch .. ' ' .. ARGV[5 + i])
end
if window > 0 then redis.call('EXPIRE', KEYS[2], ARGV[4]) end
redis.call('EXPIRE', KEYS[1], ARGV[4])
return last
";

/// Reads where the history stands and the entries from an id on. KEYS: meta, stream. ARGV: the first
/// id wanted (empty: none), a fresh epoch (used if the license has none yet), the TTL.
const CATCH_UP: &str = r"
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[2]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'offset', 0)
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
local offset = redis.call('HGET', KEYS[1], 'offset')
local entries = {}
if ARGV[1] ~= '' then entries = redis.call('XRANGE', KEYS[2], ARGV[1], '+') end
return {epoch, offset, entries}
";

/// One license's events for [`RedisHistory::append`]: its license, its envelopes as published (in
/// order), and whether the first starts a new epoch (the license's history has a hole).
pub(super) struct Append<'a> {
    pub(super) license: &'a LicenseKey,
    pub(super) envelopes: Vec<&'a str>,
    pub(super) rotate: bool,
}

/// What [`CATCH_UP`] answers: the epoch, the last offset, and the stream entries `(id, [field, value])`.
type HistoryRead = (String, u64, Vec<(String, Vec<String>)>);

/// An event on the Redis bus and in the stream: who published it, for which license.
#[derive(Serialize, Deserialize)]
pub(super) struct Envelope {
    pub(super) origin: String,
    pub(super) license: String,
    pub(super) event: Event,
}

/// The histories in Redis, as one node sees them.
#[derive(Clone)]
pub(super) struct RedisHistory {
    pub(super) conn: ConnectionManager,
    pub(super) prefix: String,
    pub(super) node_id: String,
    pub(super) window: usize,
    /// [`APPEND`], invoked by its hash.
    append_script: redis::Script,
}

impl RedisHistory {
    /// The histories under `prefix` as node `node_id` writes them, `window` events per license.
    pub(super) fn new(conn: ConnectionManager, prefix: String, node_id: String, window: usize) -> Self {
        Self { conn, prefix, node_id, window, append_script: redis::Script::new(APPEND) }
    }

    fn keys(&self, license: &str) -> [String; 2] {
        let stream = format!("{}license:{license}:stream", self.prefix);
        [format!("{stream}:meta"), stream]
    }

    /// The pub/sub channel of a license (`*` for the pattern of all).
    pub(super) fn channel(&self, license: &str) -> String {
        format!("{}license:{license}:events", self.prefix)
    }

    /// Numbers the events of each of `appends` as its license's next ones, keeps them and publishes each
    /// as `<offset> <epoch> <envelope>`, in order, all in one round trip: a round trip each was most of
    /// the bus's cost to Redis and to this node (issue 14: at 10,000 widget messages a second, Redis 5.3
    /// → 3.0 CPU-s, the server −20 %), and one script call per license rather than per event took a
    /// quarter off what was left (2.7 → 2.05 CPU-s). The script is loaded at the head of every batch, so
    /// a Redis that restarted (or flushed its scripts) needs no retry, and the calls travel as `EVALSHA`,
    /// not with the script's text each. `Err`: the connection failed, and which were published is
    /// unknown; else one answer per license's append (a script Redis failed part-way, which only a full
    /// memory does, may have published the license's first events: those then also reach this node's
    /// sockets without a position, once more).
    pub(super) async fn append(&self, appends: &[Append<'_>]) -> redis::RedisResult<Vec<redis::RedisResult<()>>> {
        let mut pipe = redis::pipe();
        pipe.ignore_errors().load_script(&self.append_script);
        // One candidate epoch for the batch: a license takes it only when it has none or rotates, at
        // most once a batch (one call per license), and epochs compare within a license.
        let epoch = new_epoch();
        for append in appends {
            let [meta, stream] = self.keys(append.license.as_str());
            let mut invocation = self.append_script.key(meta);
            invocation
                .key(stream)
                .arg(self.window)
                .arg(epoch.as_ref())
                .arg(if append.rotate { "1" } else { "0" })
                .arg(HISTORY_TTL_SECONDS)
                .arg(self.channel(append.license.as_str()));
            for envelope in &append.envelopes {
                invocation.arg(*envelope);
            }
            pipe.invoke_script(&invocation);
        }
        let answers: Vec<redis::RedisResult<redis::Value>> = pipe.query_async(&mut self.conn.clone()).await?;
        // The first answers the load: an invocation it failed for fails on its own (NOSCRIPT).
        let mut answers = answers.into_iter().skip(1).map(|answer| answer.map(drop));
        let unanswered = || Err((redis::ErrorKind::Parse, "no answer in the pipeline's reply").into());
        Ok(appends.iter().map(|_| answers.next().unwrap_or_else(unanswered)).collect())
    }

    /// What a dashboard at `from` missed; a reset without a position while Redis cannot answer.
    pub(super) async fn catch_up(&self, license: &LicenseKey, from: Option<&Position>) -> CatchUp {
        let [meta, stream] = self.keys(license.as_str());
        let first = from.map_or_else(String::new, |from| format!("{}-0", from.offset + 1));
        let read: redis::RedisResult<HistoryRead> = redis::cmd("EVAL")
            .arg(CATCH_UP)
            .arg(2)
            .arg(meta)
            .arg(stream)
            .arg(first)
            .arg(new_epoch().as_ref())
            .arg(HISTORY_TTL_SECONDS)
            .query_async(&mut self.conn.clone())
            .await;
        let (epoch, offset, entries) = match read {
            Ok(read) => read,
            Err(err) => {
                metrics::counter!(crate::telemetry::REDIS_ERRORS, "operation" => "history").increment(1);
                tracing::warn!(%err, "cannot read a license's history from Redis");
                return CatchUp::Reset { now: None };
            }
        };
        let epoch: Arc<str> = epoch.into();
        let after = entries.into_iter().filter_map(|(id, fields)| self.entry(&epoch, &id, &fields)).collect();
        CatchUp::judge(from, Position { epoch, offset }, after)
    }

    /// One stream entry (`<offset>-0`, `e` → envelope) as the event it holds.
    fn entry(&self, epoch: &Arc<str>, id: &str, fields: &[String]) -> Option<Arc<BusEvent>> {
        let offset = id.split_once('-')?.0.parse().ok()?;
        let envelope: Envelope = serde_json::from_str(fields.get(1)?).ok()?;
        let position = Position { epoch: epoch.clone(), offset };
        Some(Arc::new(BusEvent::at(envelope.event, position, envelope.origin != self.node_id)))
    }
}

/// A message of the Redis bus: `<offset> <epoch> <envelope>`, or a bare envelope (a node of an older
/// release, during a rolling upgrade: delivered without a position).
pub(super) fn parse_message(payload: &[u8]) -> Option<(Option<Position>, Envelope)> {
    if payload.first() == Some(&b'{') {
        return serde_json::from_slice(payload).ok().map(|envelope| (None, envelope));
    }
    let text = std::str::from_utf8(payload).ok()?;
    let (offset, rest) = text.split_once(' ')?;
    let (epoch, envelope) = rest.split_once(' ')?;
    let position = Position { epoch: epoch.into(), offset: offset.parse().ok()? };
    Some((Some(position), serde_json::from_str(envelope).ok()?))
}
