// Widget chat: VISITORS visitors (spread over TENANTS tenants, each visitor its own conversation) send
// messages on /ws/widget at RATE msgs/s each for DURATION seconds. The server acks a message only after
// the store has it, so ack latency = persist latency; acked msgs/s is the store's sustained write rate.
// INFLIGHT=N switches to closed loop: each visitor keeps N messages unacknowledged at all times (as fast
// as the server goes), ignoring RATE.
//
// Env: VISITORS (1), TENANTS (1), RATE (5 msgs/s per visitor), DURATION (20 s), INFLIGHT (0 = open loop),
//      VUS (4; visitors are spread over this many k6 VUs), DRAIN_SECONDS (5), PAD_BYTES (0),
//      BASE_URL, ADMIN_TOKEN, SUMMARY. The server must allow the rate: VISITOR_RATE_PER_SECOND,
//      VISITOR_BURST and LICENSE_RATE_PER_SECOND (loadtest/run sets them high).
// Checks: every sent message acked exactly once, no error frames, no socket closed early.

import exec from 'k6/execution';
import { check } from 'k6';
import { WebSocket } from 'k6/experimental/websockets';
import { setTimeout, setInterval, clearInterval } from 'k6/timers';
import { Counter, Trend, Gauge } from 'k6/metrics';
import { envInt, WS_BASE, createTenants, summaryOutput, TREND_STATS } from './lib/common.js';

const VISITORS = envInt('VISITORS', 1);
const TENANTS = Math.min(envInt('TENANTS', 1), VISITORS);
const RATE = envInt('RATE', 5);
const DURATION = envInt('DURATION', 20);
const INFLIGHT = envInt('INFLIGHT', 0);
const VUS = Math.max(1, Math.min(envInt('VUS', 4), VISITORS));
const DRAIN_SECONDS = envInt('DRAIN_SECONDS', 5);
const PAD = 'x'.repeat(envInt('PAD_BYTES', 0));

const sent = new Counter('widget_sent');
const acked = new Counter('widget_acked');
const ackMs = new Trend('ack_ms', true);
const connectMs = new Trend('connect_ms', true);
const errorFrames = new Counter('error_frames');
const rateLimited = new Counter('rate_limited');
const unacked = new Counter('unacked');
const badAcks = new Counter('bad_acks');
const closedEarly = new Counter('closed_early');
const connectErrors = new Counter('connect_errors');
const uncleanCloses = new Counter('unclean_closes');
const first = new Gauge('recv_first_ts');
const last = new Gauge('recv_last_ts');

export const options = {
  setupTimeout: '120s',
  summaryTrendStats: TREND_STATS,
  scenarios: {
    visitors: {
      executor: 'per-vu-iterations',
      vus: VUS,
      iterations: 1,
      maxDuration: `${DURATION + DRAIN_SECONDS + 20}s`,
      gracefulStop: '5s',
    },
  },
  thresholds: { widget_acked: ['count>0'], unacked: ['count==0'], error_frames: ['count==0'] },
};

export function setup() {
  const tenants = createTenants(TENANTS);
  return { tenants, startAt: Date.now() + 1000 };
}

export default function (data) {
  const me = exec.scenario.iterationInTest;
  const mine = [];
  for (let v = me; v < VISITORS; v += VUS) mine.push(v);
  const local = { sent: 0, acked: 0, first: 0, last: 0, flushedSent: 0, flushedAcked: 0, logged: 0 };
  const visitors = [];
  let done = 0;
  const flush = () => {
    sent.add(local.sent - local.flushedSent);
    acked.add(local.acked - local.flushedAcked);
    local.flushedSent = local.sent;
    local.flushedAcked = local.acked;
  };
  const flusher = setInterval(flush, 1000);

  mine.forEach((v, i) => setTimeout(() => visitors.push(openVisitor(v)), i * 5));

  function openVisitor(v) {
    const tenant = data.tenants[v % data.tenants.length];
    const st = { v, n: 0, pending: new Map(), started: 0, stopAt: 0, closed: false, socket: null, finished: false };
    const t0 = Date.now();
    const socket = new WebSocket(`${WS_BASE}/ws/widget?product_key=${tenant.product_key}`);
    st.socket = socket;
    const sendOne = () => {
      const id = `v${v}-${st.n++}`;
      st.pending.set(id, Date.now());
      local.sent++;
      socket.send(JSON.stringify({ type: 'message', text: `load ${id} ${PAD}`, client_msg_id: id }));
    };
    const finish = () => {
      if (st.finished) return;
      st.finished = true;
      if (st.pending.size) unacked.add(st.pending.size);
      check(st, { 'every message acked': (s) => s.pending.size === 0 });
      st.closed = true;
      socket.close();
      if (++done === mine.length) {
        clearInterval(flusher);
        flush();
        if (local.first) {
          first.add(local.first);
          last.add(local.last);
        }
      }
    };
    let ticker = null;
    socket.onmessage = (e) => {
      const frame = e.data;
      if (frame.startsWith('{"type":"ack"')) {
        const f = JSON.parse(frame);
        const at = st.pending.get(f.client_msg_id);
        if (at === undefined || f.duplicate) {
          badAcks.add(1);
          return;
        }
        st.pending.delete(f.client_msg_id);
        const now = Date.now();
        ackMs.add(now - at);
        local.acked++;
        if (!local.first) local.first = now;
        local.last = now;
        if (INFLIGHT > 0 && now < st.stopAt) sendOne();
        else if (now >= st.stopAt && st.pending.size === 0 && ticker === null) finish();
        return;
      }
      if (frame.startsWith('{"type":"welcome"')) {
        connectMs.add(Date.now() - t0);
        // Spread the visitors' send schedules evenly over one send period, so N visitors do not all
        // fire in the same millisecond (real visitors are not synchronised).
        const phase = INFLIGHT > 0 ? 0 : Math.floor(((v / VISITORS) * 1000) / RATE);
        st.started = Math.max(Date.now(), data.startAt) + phase;
        st.stopAt = st.started + DURATION * 1000;
        setTimeout(() => {
          if (INFLIGHT > 0) {
            for (let k = 0; k < INFLIGHT; k++) sendOne();
            // Closed loop: acks drive sending; stop at stopAt, then wait for stragglers.
            setTimeout(() => {
              if (st.pending.size === 0) finish();
              else setTimeout(finish, DRAIN_SECONDS * 1000);
            }, DURATION * 1000);
            return;
          }
          ticker = setInterval(() => {
            const now = Date.now();
            const due = Math.floor(((Math.min(now, st.stopAt) - st.started) * RATE) / 1000);
            while (st.n < due) sendOne();
            if (now >= st.stopAt) {
              clearInterval(ticker);
              ticker = null;
              if (st.pending.size === 0) finish();
              else setTimeout(finish, DRAIN_SECONDS * 1000);
            }
          }, Math.max(5, Math.min(100, Math.floor(1000 / RATE / 2))));
        }, st.started - Date.now());
        return;
      }
      if (frame.startsWith('{"type":"error"')) {
        const f = JSON.parse(frame);
        errorFrames.add(1);
        if (f.code === 'rate_limited') rateLimited.add(1);
        if (++local.logged <= 5) console.warn(`visitor ${v}: ${frame}`);
      }
    };
    socket.onerror = (e) => {
      if (st.closed) {
        uncleanCloses.add(1); // we closed; the server dropped TCP without its Close frame (1006)
        return;
      }
      if (!st.started) connectErrors.add(1);
      console.warn(`visitor ${v}: ${e.error}`);
    };
    socket.onclose = () => {
      if (!st.closed) {
        closedEarly.add(1);
        if (ticker !== null) clearInterval(ticker);
        ticker = null;
        finish();
      }
    };
    return st;
  }
}

export function handleSummary(data) {
  return summaryOutput(data, {
    scenario: 'widget_chat',
    delivered: 'widget_acked',
    expected: 'widget_sent',
    sent: 'widget_sent',
    latency: 'ack_ms',
    extraTrends: ['connect_ms'],
    errors: ['error_frames', 'rate_limited', 'unacked', 'bad_acks', 'closed_early', 'connect_errors'],
    info: ['unclean_closes'],
    params: { VISITORS, TENANTS, RATE, DURATION, INFLIGHT, VUS, DRAIN_SECONDS },
  });
}
