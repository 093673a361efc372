// Fan-out load: S dashboard sockets spread over T tenants receive `message:new` for every message a
// driver injects into their tenant at RATE messages/s. Used by dashboard_socketio.js (Socket.IO
// receivers, raw Engine.IO frames) and dashboard_ws.js (plain /ws/dashboard receivers).
//
// Timeline (absolute times fixed at the end of setup()):
//   [0, CONNECT_SECONDS)          receivers connect (paced); the driver connects its injectors
//   [startAt, endAt)              the driver sends RATE msgs/s round-robin over the tenants
//   endAt                         the driver sends one end marker per tenant
//   until endAt + DRAIN_SECONDS   receivers wait for stragglers, then close (earlier once they have
//                                 every message of their tenant and its end marker)
//
// Correctness: expected deliveries = Σ over sent messages of the receivers designed for that tenant
// (a receiver that failed to connect or connected late shows up as missing deliveries).
// Latency: each message text carries its send time (Date.now() in the driver, same process and clock).

import ws from 'k6/ws';
import http from 'k6/http';
import exec from 'k6/execution';
import { WebSocket } from 'k6/experimental/websockets';
import { setTimeout, setInterval, clearInterval } from 'k6/timers';
import { Counter, Trend, Gauge } from 'k6/metrics';
import {
  envInt,
  envStr,
  TARGET,
  WS_BASE,
  BASE_URL,
  INJECT_URL,
  INJECT_WS,
  createTenants,
  peerTenants,
  sioUrl,
  sioDecode,
  sioConnectFrame,
  sioEmitFrame,
  probeText,
  parseProbe,
  authHeaders,
  spread,
  TREND_STATS,
} from './common.js';

// The Node peer and the floor (loadtest/gen) take the peer's tokens and its `message:send {text, ts}`.
const PEER_LIKE = TARGET === 'node-peer' || TARGET === 'floor';
/// Switchboard's `message:new` frame minus the Node peer's relayed one, for the same text (measured: see PEER_PAD_BYTES).
const PEER_PAD_DEFAULT = 271;
export const SOCKETS = envInt('SOCKETS', 100);
export const TENANTS = envInt('TENANTS', 10);
export const RATE = envInt('RATE', 10); // injected messages per second, all tenants together
export const DURATION = envInt('DURATION', 20); // seconds of injection
export const RECV_VUS = Math.max(1, Math.min(envInt('RECV_VUS', 4), SOCKETS));
export const CONNECT_SECONDS = envInt('CONNECT_SECONDS', 3 + Math.ceil(SOCKETS / 250));
export const DRAIN_SECONDS = envInt('DRAIN_SECONDS', 5);
export const PAD_BYTES = envInt('PAD_BYTES', 0);
export const CONVERSATIONS = envInt('CONVERSATIONS', 1); // per tenant, for agent replies (socketio / http)
// 1 = record every delivery's latency; N = every Nth (counts stay exact). Lowers k6's own CPU use.
export const LAT_SAMPLE = Math.max(1, envInt('LAT_SAMPLE', 1));
export const OPEN_TIMEOUT_MS = envInt('OPEN_TIMEOUT_MS', 3000);
const PAD = 'x'.repeat(PAD_BYTES);
// The Node peer relays `{text, ts, from}`, a smaller event than Switchboard's `message:new` (message object,
// channel, offset, epoch). PEER_PAD_BYTES more padding on the peer's texts makes its relayed frames the same
// size as Switchboard's for the same PAD_BYTES (the default is the difference measured with SHOW_FRAME=1;
// compare `frame_bytes` in the two rows). 0 = the peer's natural, smaller frames.
export const PEER_PAD_BYTES = envInt('PEER_PAD_BYTES', PEER_PAD_DEFAULT);
const PEER_PAD = 'x'.repeat(PEER_PAD_BYTES);
const SHOW_FRAME = envInt('SHOW_FRAME', 0) === 1;
let shown = false;
// Highest message number a tenant can get, for per-socket duplicate detection.
const PER_TENANT_MAX = Math.ceil((RATE * DURATION) / Math.max(1, TENANTS)) + 2;

export const delivered = new Counter('delivered');
export const expected = new Counter('expected_deliveries');
export const sent = new Counter('sent');
export const deliveryMs = new Trend('delivery_ms', true);
export const injectAckMs = new Trend('inject_ack_ms', true);
export const connectMs = new Trend('connect_ms', true);
// Size of each counted `message:new` WebSocket payload (sampled like delivery_ms): the bytes on the wire
// per delivery, so targets are compared at equal frame sizes.
export const frameBytes = new Trend('frame_bytes');
export const connectErrors = new Counter('connect_errors');
export const lateConnects = new Counter('late_connects');
export const closedEarly = new Counter('closed_early');
export const injectErrors = new Counter('inject_errors');
export const recvFirst = new Gauge('recv_first_ts');
export const recvLast = new Gauge('recv_last_ts');
export const duplicates = new Counter('duplicate_deliveries');
export const uncleanCloses = new Counter('unclean_closes');
export const openRetries = new Counter('eio_open_retries');

export function fanoutOptions(receiverKind, inject) {
  const total = CONNECT_SECONDS + DURATION + DRAIN_SECONDS + 15;
  return {
    setupTimeout: '180s',
    teardownTimeout: '30s',
    summaryTrendStats: TREND_STATS,
    scenarios: {
      receivers: {
        executor: 'per-vu-iterations',
        vus: RECV_VUS,
        iterations: 1,
        maxDuration: `${total}s`,
        exec: 'receivers',
        gracefulStop: '5s',
      },
      driver: {
        executor: 'per-vu-iterations',
        vus: 1,
        iterations: 1,
        maxDuration: `${total}s`,
        exec: 'driver',
        gracefulStop: '5s',
      },
    },
    thresholds: {
      // Present so the summary always carries them; the pass/fail verdict is computed in handleSummary.
      delivered: ['count>0'],
      connect_errors: ['count==0'],
      inject_errors: ['count==0'],
    },
  };
}

/// Receivers designed for tenant t: sockets g in [0, SOCKETS) with g % TENANTS == t.
export function receiversOf(t) {
  return Math.floor(SOCKETS / TENANTS) + (t < SOCKETS % TENANTS ? 1 : 0);
}

/// Opens one widget conversation per (tenant, CONVERSATIONS) with the blocking k6/ws client (setup only).
function openConversations(tenants) {
  for (const tenant of tenants) {
    tenant.conversations = [];
    for (let c = 0; c < CONVERSATIONS; c++) {
      let conversation = null;
      let problem = null;
      ws.connect(`${WS_BASE}/ws/widget?product_key=${tenant.product_key}`, null, (socket) => {
        socket.on('message', (raw) => {
          const f = JSON.parse(raw);
          if (f.type === 'welcome') {
            socket.send(JSON.stringify({ type: 'message', text: 'load test conversation', client_msg_id: 'setup' }));
          } else if (f.type === 'ack') {
            conversation = f.conversation_id;
            socket.close();
          } else if (f.type === 'error') {
            problem = raw;
            socket.close();
          }
        });
        socket.setTimeout(() => socket.close(), 10000);
      });
      if (!conversation) throw new Error(`tenant ${tenant.index}: no conversation (${problem || 'timeout'})`);
      tenant.conversations.push(conversation);
    }
  }
}

export function fanoutSetup(inject) {
  if (SOCKETS < TENANTS) throw new Error(`SOCKETS (${SOCKETS}) must be >= TENANTS (${TENANTS})`);
  let tenants;
  if (PEER_LIKE) {
    if (inject !== 'socketio') throw new Error(`${TARGET} only relays message:send (INJECT=socketio), not ${inject}`);
    tenants = peerTenants(TENANTS);
  } else {
    tenants = createTenants(TENANTS);
    if (inject === 'socketio' || inject === 'http') openConversations(tenants);
  }
  const startAt = Date.now() + CONNECT_SECONDS * 1000;
  return { tenants, startAt, endAt: startAt + DURATION * 1000, deadline: startAt + (DURATION + DRAIN_SECONDS) * 1000 };
}

// ---------------------------------------------------------------------------------------------
// Receivers

function extractText(kind, frame) {
  if (kind === 'socketio') {
    // 42["message:new",{...}] — fast prefix test before parsing.
    if (!frame.startsWith('42["message:new"')) return undefined;
    const d = JSON.parse(frame.slice(2))[1];
    return d.message ? d.message.text : d.text; // Switchboard: {channel, message:{text}}; Node peer: {text, ts, from}
  }
  // {"data":{…},"event":"message:new"} (the server's key order is not part of the contract: search).
  if (!frame.includes('"event":"message:new"')) return undefined;
  const d = JSON.parse(frame).data;
  return d.message ? d.message.text : undefined;
}

/// One VU's share of the receivers, all on this VU's event loop.
export function receiverLoop(kind, data) {
  const me = exec.scenario.iterationInTest; // 0 … RECV_VUS-1
  const mine = [];
  for (let g = me; g < SOCKETS; g += RECV_VUS) mine.push(g);
  const local = { delivered: 0, first: 0, last: 0, flushed: 0, sample: 0 };
  const sockets = [];
  let open = 0;
  let finished = 0;
  const flush = () => {
    if (local.delivered > local.flushed) {
      delivered.add(local.delivered - local.flushed);
      local.flushed = local.delivered;
    }
  };
  const flusher = setInterval(flush, 1000);
  const finishOne = () => {
    finished++;
    if (finished === mine.length) {
      clearInterval(flusher);
      flush();
      if (local.first) {
        recvFirst.add(local.first);
        recvLast.add(local.last);
      }
    }
  };
  // Pace connections over the first half of the connect window.
  const spacing = mine.length > 1 ? Math.min(50, (CONNECT_SECONDS * 500) / mine.length) : 0;
  mine.forEach((g, i) => {
    const tenant = data.tenants[g % data.tenants.length];
    setTimeout(() => sockets.push(openReceiver(kind, g, tenant)), i * spacing);
  });

  function openReceiver(kind, g, tenant, previous) {
    const st = { g, tenant: tenant.index, got: 0, seen: new Uint8Array(PER_TENANT_MAX), connected: false, done: false, endCount: -1, retried: !!previous };
    const t0 = Date.now();
    const url =
      kind === 'socketio'
        ? sioUrl(g)
        : spread(`${WS_BASE}/ws/dashboard?token=${encodeURIComponent(tenant.token)}`, g);
    const socket = new WebSocket(url);
    const connected = () => {
      st.connected = true;
      open++;
      connectMs.add(Date.now() - t0);
      if (Date.now() > data.startAt) lateConnects.add(1);
    };
    const stop = setTimeout(() => close(), Math.max(0, data.deadline - Date.now()));
    // A Socket.IO receiver whose WebSocket opened but that got no Engine.IO open packet within
    // OPEN_TIMEOUT_MS is retried once (as socket.io-client's connect timeout would); counted in eio_open_retries.
    let watchdog = null;
    const armWatchdog = () => {
      if (kind !== 'socketio' || st.retried) return;
      watchdog = setTimeout(() => {
        if (st.stage !== 'ws-open' || st.done) return;
        openRetries.add(1);
        console.warn(`receiver ${g}: no Engine.IO open packet ${OPEN_TIMEOUT_MS} ms after the WebSocket opened; retrying`);
        st.retried = true;
        st.done = true;
        clearTimeout(stop);
        socket.close();
        setTimeout(() => sockets.push(openReceiver(kind, g, tenant, st)), 0);
      }, OPEN_TIMEOUT_MS);
    };
    function close() {
      if (st.done) return;
      if (!st.connected) {
        connectErrors.add(1);
        console.warn(`receiver ${g}: never connected (stage: ${st.stage})`);
      }
      st.done = true;
      clearTimeout(stop);
      socket.close();
      finishOne();
    }
    st.stage = 'connecting';
    socket.onopen = () => {
      st.stage = 'ws-open';
      if (kind === 'ws') connected();
      else armWatchdog();
    };
    socket.onmessage = (e) => {
      const frame = e.data;
      if (kind === 'socketio') {
        const c = frame.charCodeAt(0);
        if (c === 50) {
          socket.send('3'); // ping → pong
          return;
        }
        if (c === 48) {
          st.stage = 'eio-open';
          if (watchdog !== null) clearTimeout(watchdog);
          socket.send(sioConnectFrame(tenant.token)); // Engine.IO open → Socket.IO CONNECT with auth
          return;
        }
        if (!st.connected && frame.startsWith('40')) {
          connected();
          return;
        }
        if (frame.startsWith('44')) {
          connectErrors.add(1);
          console.warn(`receiver ${g}: connect_error ${frame}`);
          close();
          return;
        }
      }
      const text = extractText(kind, frame);
      if (text === undefined) return;
      if (text.startsWith('lt-end|')) {
        st.endCount = Number(text.split('|')[2]);
        if (st.got >= st.endCount) close();
        return;
      }
      const probe = parseProbe(text);
      if (!probe || probe.tenant !== tenant.index) return;
      const now = Date.now();
      if (probe.n < PER_TENANT_MAX) {
        if (st.seen[probe.n]) {
          duplicates.add(1);
          return;
        }
        st.seen[probe.n] = 1;
      }
      st.got++;
      local.delivered++;
      if (!local.first) local.first = now;
      local.last = now;
      if (++local.sample >= LAT_SAMPLE) {
        local.sample = 0;
        deliveryMs.add(now - probe.sentAt);
        frameBytes.add(frame.length);
        if (SHOW_FRAME && !shown) {
          shown = true;
          console.log(`message:new frame (${frame.length} bytes): ${frame}`);
        }
      }
      if (st.endCount >= 0 && st.got >= st.endCount) close();
    };
    socket.onerror = (e) => {
      if (st.done) {
        uncleanCloses.add(1); // we closed; the server dropped TCP without its Close frame (1006)
        return;
      }
      if (!st.connected) {
        connectErrors.add(1);
        console.warn(`receiver ${g}: ${e.error}`);
      }
    };
    socket.onclose = () => {
      if (watchdog !== null) clearTimeout(watchdog);
      if (!st.done) {
        if (st.connected) closedEarly.add(1);
        else connectErrors.add(1);
        st.done = true;
        clearTimeout(stop);
        finishOne();
      }
    };
    return st;
  }
}

// ---------------------------------------------------------------------------------------------
// Driver: injects RATE msgs/s round-robin over the tenants, then one end marker per tenant.

export function driverLoop(inject, data) {
  const T = data.tenants.length;
  const total = RATE * DURATION;
  const perTenantSent = new Array(T).fill(0);
  const pending = new Map(); // ack id / client_msg_id → send time
  const injectors = new Array(T).fill(null);
  let ackSeq = 0;
  let n = 0;
  let ended = false;
  let closing = false;

  // Injectors: one Socket.IO socket (socketio) or widget visitor (widget) per tenant; HTTP needs none.
  if (inject === 'socketio' || inject === 'widget') {
    data.tenants.forEach((tenant, t) => {
      const url =
        inject === 'socketio' ? sioUrl(SOCKETS + t) : `${INJECT_WS}/ws/widget?product_key=${tenant.product_key}`;
      const socket = new WebSocket(url);
      const inj = { socket, ready: false };
      socket.onmessage = (e) => {
        const frame = e.data;
        if (inject === 'socketio') {
          const c = frame.charCodeAt(0);
          if (c === 50) return socket.send('3');
          if (c === 48) return socket.send(sioConnectFrame(tenant.token));
          if (frame.startsWith('40')) {
            inj.ready = true;
            return;
          }
          if (frame.startsWith('44')) {
            injectErrors.add(1);
            console.error(`driver ${t}: connect_error ${frame}`);
            return;
          }
          if (frame.startsWith('43')) {
            const p = sioDecode(frame);
            settle(p.id, p.data && p.data.ok === true, p.data);
          }
          return;
        }
        // widget visitor
        if (frame.startsWith('{"type":"welcome"')) {
          inj.ready = true;
          return;
        }
        if (frame.startsWith('{"type":"ack"')) {
          const f = JSON.parse(frame);
          settle(f.client_msg_id, true, f);
        } else if (frame.startsWith('{"type":"error"')) {
          const f = JSON.parse(frame);
          settle(f.client_msg_id, false, f);
        }
      };
      socket.onerror = (e) => {
        if (closing) {
          uncleanCloses.add(1);
          return;
        }
        injectErrors.add(1);
        console.error(`driver ${t}: ${e.error}`);
      };
      socket.onclose = () => {
        if (!closing) {
          injectErrors.add(1);
          console.error(`driver ${t}: injector closed early`);
        }
      };
      injectors[t] = inj;
    });
  }

  function settle(id, ok, payload) {
    const at = pending.get(id);
    if (at === undefined) return;
    pending.delete(id);
    if (ok) injectAckMs.add(Date.now() - at);
    else {
      injectErrors.add(1);
      console.warn(`inject failed: ${JSON.stringify(payload).slice(0, 200)}`);
    }
  }

  function send(t, text, countIt) {
    const tenant = data.tenants[t];
    const conv = tenant.conversations ? tenant.conversations[n % tenant.conversations.length] : null;
    const id = `d${n}`;
    if (inject === 'http') {
      const started = Date.now();
      http
        .asyncRequest('POST', `${INJECT_URL}/api/conversations/${conv}/messages`, JSON.stringify({ text, client_msg_id: id }), {
          headers: authHeaders(tenant.token),
        })
        .then((res) => {
          if (res.status === 201 || res.status === 200) injectAckMs.add(Date.now() - started);
          else {
            injectErrors.add(1);
            console.warn(`inject HTTP ${res.status}: ${String(res.body).slice(0, 200)}`);
          }
        });
    } else {
      const inj = injectors[t];
      if (!inj || !inj.ready) {
        injectErrors.add(1);
        return false;
      }
      if (inject === 'widget') {
        pending.set(id, Date.now());
        inj.socket.send(JSON.stringify({ type: 'message', text, client_msg_id: id }));
      } else if (PEER_LIKE) {
        inj.socket.send(sioEmitFrame('message:send', { text, ts: Date.now() }));
      } else {
        const ackId = ackSeq++;
        pending.set(ackId, Date.now());
        inj.socket.send(sioEmitFrame('message:send', { conversation_id: conv, text, client_msg_id: id }, ackId));
      }
    }
    if (countIt) {
      sent.add(1);
      expected.add(receiversOf(t));
    }
    return true;
  }

  const tick = setInterval(() => {
    const now = Date.now();
    if (now < data.startAt) return;
    const due = Math.min(total, Math.floor(((now - data.startAt) * RATE) / 1000));
    while (n < due) {
      const t = n % T;
      const pad = TARGET === 'node-peer' ? PAD + PEER_PAD : PAD;
      if (send(t, probeText(t, perTenantSent[t], pad), true)) perTenantSent[t]++;
      n++;
    }
    if (!ended && (n >= total || now >= data.endAt)) {
      ended = true;
      clearInterval(tick);
      for (let t = 0; t < T; t++) send(t, `lt-end|${t}|${perTenantSent[t]}`, false);
      // Wait for outstanding acks, then close the injectors.
      const waitAcks = setInterval(() => {
        if (pending.size === 0 || Date.now() > data.deadline) {
          clearInterval(waitAcks);
          if (pending.size > 0) {
            injectErrors.add(pending.size);
            console.warn(`${pending.size} injected messages never acknowledged`);
          }
          closing = true;
          for (const inj of injectors) if (inj) inj.socket.close();
        }
      }, 50);
    }
  }, 5);
}

export function fanoutSummarySpec(scenario, inject) {
  return {
    scenario,
    delivered: 'delivered',
    expected: 'expected_deliveries',
    sent: 'sent',
    latency: 'delivery_ms',
    extraTrends: ['inject_ack_ms', 'connect_ms', 'frame_bytes'],
    errors: ['connect_errors', 'late_connects', 'closed_early', 'inject_errors', 'duplicate_deliveries'],
    info: ['unclean_closes', 'eio_open_retries'],
    params: {
      SOCKETS,
      TENANTS,
      RATE,
      DURATION,
      INJECT: inject,
      RECV_VUS,
      CONNECT_SECONDS,
      DRAIN_SECONDS,
      PAD_BYTES,
      PEER_PAD_BYTES: TARGET === 'node-peer' ? PEER_PAD_BYTES : 0,
      CONVERSATIONS,
      LAT_SAMPLE,
    },
  };
}

export { envStr };
