// Shared helpers for the Switchboard k6 scenarios: configuration from __ENV, tenant set-up over HTTP,
// a raw Engine.IO/Socket.IO v5 codec, HS256 tokens for the Node peer, and the summary writer.
//
// Every scenario reads its sizes from __ENV (see loadtest/README.md) and is driven by loadtest/run,
// which passes BASE_URL, SIO_URL, ADMIN_TOKEN, TARGET and SUMMARY.

import http from 'k6/http';
import crypto from 'k6/crypto';
import encoding from 'k6/encoding';

export function envInt(name, dflt) {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new Error(`${name}='${raw}' is not a number`);
  return n;
}

export function envStr(name, dflt) {
  const raw = __ENV[name];
  return raw === undefined || raw === '' ? dflt : raw;
}

export const TARGET = envStr('TARGET', 'switchboard'); // switchboard | node-peer
export const BASE_URL = envStr('BASE_URL', 'http://127.0.0.1:8080');
export const WS_BASE = BASE_URL.replace(/^http/, 'ws');
export const SIO_URL = envStr('SIO_URL', 'http://127.0.0.1:8081');
// Where messages are injected (widget visitors, agent replies): another node than BASE_URL measures
// cross-node fan-out (loadtest/cross_node). Defaults to BASE_URL.
export const INJECT_URL = envStr('INJECT_URL', BASE_URL);
export const INJECT_WS = INJECT_URL.replace(/^http/, 'ws');
export const ADMIN_TOKEN = envStr('ADMIN_TOKEN', 'loadtest-admin-token');
export const PASSWORD = 'LoadTestPass123';
// Only loopback targets: a guard against pointing the generator anywhere else by mistake.
for (const url of [BASE_URL, SIO_URL, INJECT_URL]) {
  if (!/^https?:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?/.test(url)) {
    throw new Error(`refusing non-loopback target ${url}`);
  }
}

// For very large socket counts one destination address runs out of ephemeral source ports (~28k per
// src/dst pair): SPREAD_IPS=N spreads sockets over 127.0.0.1 … 127.0.0.N (the server must then listen on
// all of them, i.e. HOST=0.0.0.0; every address is still loopback). Default 1.
export const SPREAD_IPS = envInt('SPREAD_IPS', 1);
export function spread(url, index) {
  if (SPREAD_IPS <= 1) return url;
  return url.replace('127.0.0.1', `127.0.0.${1 + (index % SPREAD_IPS)}`);
}

export const TREND_STATS = ['avg', 'min', 'med', 'p(50)', 'p(90)', 'p(95)', 'p(99)', 'max', 'count'];

const JSON_HEADERS = { 'content-type': 'application/json' };
function authHeaders(token) {
  return { 'content-type': 'application/json', authorization: `Bearer ${token}` };
}

function mustStatus(res, want, what) {
  const ok = Array.isArray(want) ? want.includes(res.status) : res.status === want;
  if (!ok) throw new Error(`${what}: HTTP ${res.status} ${String(res.body).slice(0, 300)}`);
  return res.json();
}

// Batches HTTP requests in groups so set-up of many tenants runs a few at a time.
function batched(requests, group = 8) {
  const out = [];
  for (let i = 0; i < requests.length; i += group) out.push(...http.batch(requests.slice(i, i + group)));
  return out;
}

/// Creates `count` tenants on Switchboard: license (admin API) → register → login → chatbot key.
/// Returns [{index, license_key, email, token, product_key}]. `opts.products` defaults to ["chatbot"].
export function createTenants(count, opts = {}) {
  const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
  const products = opts.products || ['chatbot'];
  const emails = [];
  for (let i = 0; i < count; i++) emails.push(`lt-${run}-${i}@example.com`);
  const admin = { headers: { ...JSON_HEADERS, authorization: `Bearer ${ADMIN_TOKEN}` } };
  const licenses = batched(
    emails.map((email) => [
      'POST',
      `${BASE_URL}/api/admin/licenses`,
      JSON.stringify({ email, products, tier: 'enterprise' }),
      admin,
    ]),
  ).map((r, i) => mustStatus(r, 201, `create license ${i}`).license_key);
  batched(
    emails.map((email, i) => [
      'POST',
      `${BASE_URL}/api/auth/register`,
      JSON.stringify({ email, password: PASSWORD, license_key: licenses[i] }),
      { headers: JSON_HEADERS },
    ]),
  ).forEach((r, i) => mustStatus(r, 201, `register ${i}`));
  const tokens = login(emails);
  let keys = emails.map(() => null);
  if (products.includes('chatbot')) {
    keys = batched(
      tokens.map((token) => [
        'POST',
        `${BASE_URL}/api/products/chatbot/configure`,
        '{}',
        { headers: authHeaders(token) },
      ]),
    ).map((r, i) => mustStatus(r, [200, 201], `configure chatbot ${i}`).product_key);
  }
  return emails.map((email, i) => ({
    index: i,
    email,
    license_key: licenses[i],
    token: tokens[i],
    product_key: keys[i],
  }));
}

/// Logs in every email (with PASSWORD); returns the tokens.
export function login(emails) {
  return batched(
    emails.map((email) => [
      'POST',
      `${BASE_URL}/api/auth/login`,
      JSON.stringify({ email, password: PASSWORD }),
      { headers: JSON_HEADERS },
    ]),
  ).map((r, i) => mustStatus(r, 200, `login ${i}`).token);
}

/// Tenants for the Node peer: no store, just HS256 tokens carrying `license_key` (signed with JWT_SECRET).
export function peerTenants(count) {
  const secret = envStr('JWT_SECRET', 'dev-secret');
  const run = Date.now().toString(36);
  const out = [];
  for (let i = 0; i < count; i++) {
    const license_key = `lic-${run}-${i}`;
    out.push({ index: i, license_key, token: hs256({ license_key, sub: `user-${i}` }, secret, 3600), product_key: null });
  }
  return out;
}

export function hs256(claims, secret, ttlSeconds) {
  const now = Math.floor(Date.now() / 1000);
  const b64 = (obj) => encoding.b64encode(JSON.stringify(obj), 'rawurl');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ ...claims, iat: now, exp: now + ttlSeconds })}`;
  return `${body}.${encoding.b64encode(crypto.hmac('sha256', secret, body, 'binary'), 'rawurl')}`;
}

/// Agent reply over HTTP (Switchboard).
export function agentReply(token, conversationId, text, clientMsgId, params = {}) {
  return http.post(
    `${BASE_URL}/api/conversations/${conversationId}/messages`,
    JSON.stringify({ text, client_msg_id: clientMsgId }),
    { headers: authHeaders(token), ...params },
  );
}

export { authHeaders };

// ---------------------------------------------------------------------------------------------
// Engine.IO v4 / Socket.IO v5 over a raw WebSocket (text packets only).

export function sioUrl(index) {
  return spread(`${SIO_URL.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`, index);
}

/// Decodes one Engine.IO packet carried in a WebSocket text frame.
/// Returns {eio:'open'|'ping'|'pong'|'close'|'message'|..., sio?:'connect'|'event'|'ack'|'connect_error'|'disconnect', id?, name?, data?}.
export function sioDecode(frame) {
  const t = frame.charCodeAt(0) - 48;
  switch (t) {
    case 0:
      return { eio: 'open', data: frame.slice(1) };
    case 1:
      return { eio: 'close' };
    case 2:
      return { eio: 'ping', data: frame.slice(1) };
    case 3:
      return { eio: 'pong' };
    case 4:
      break;
    default:
      return { eio: 'other' };
  }
  // Socket.IO packet: type digit, optional "/nsp,", optional ack id, JSON payload.
  const s = frame.charCodeAt(1) - 48;
  let i = 2;
  if (frame[i] === '/') {
    const comma = frame.indexOf(',', i);
    i = comma < 0 ? frame.length : comma + 1;
  }
  let idStart = i;
  while (i < frame.length && frame.charCodeAt(i) >= 48 && frame.charCodeAt(i) <= 57) i++;
  const id = i > idStart ? Number(frame.slice(idStart, i)) : undefined;
  const payload = frame.slice(i);
  switch (s) {
    case 0:
      return { eio: 'message', sio: 'connect', data: payload };
    case 1:
      return { eio: 'message', sio: 'disconnect' };
    case 2: {
      const arr = JSON.parse(payload);
      return { eio: 'message', sio: 'event', id, name: arr[0], data: arr[1], raw: payload };
    }
    case 3:
      return { eio: 'message', sio: 'ack', id, data: JSON.parse(payload)[0] };
    case 4:
      return { eio: 'message', sio: 'connect_error', data: payload };
    default:
      return { eio: 'message', sio: 'other' };
  }
}

export function sioConnectFrame(token) {
  return `40${JSON.stringify({ token })}`;
}

export function sioEmitFrame(name, data, ackId) {
  return `42${ackId === undefined ? '' : ackId}${JSON.stringify([name, data])}`;
}

// ---------------------------------------------------------------------------------------------
// Probe messages: "lt|<tenant>|<n>|<sent epoch ms>|<padding>" so any receiver can measure latency.

export function probeText(tenant, n, pad = '') {
  return `lt|${tenant}|${n}|${Date.now()}|${pad}`;
}

/// Returns {tenant, n, sentAt} for a probe text, or null.
export function parseProbe(text) {
  if (typeof text !== 'string' || !text.startsWith('lt|')) return null;
  const p = text.split('|');
  return { tenant: Number(p[1]), n: Number(p[2]), sentAt: Number(p[3]) };
}

// ---------------------------------------------------------------------------------------------
// Summary: a readable block on stdout and a JSON file at SUMMARY with the fields loadtest/run records.

function metricValues(data, name) {
  return (data.metrics[name] && data.metrics[name].values) || {};
}

/// `spec`: {scenario, delivered, latency, sent?, expected?, errors: [metric names], extraTrends: [names], params}.
export function buildSummary(data, spec) {
  const v = (name, field) => metricValues(data, name)[field];
  const count = (name) => v(name, 'count') || 0;
  const lat = metricValues(data, spec.latency);
  const first = v(spec.windowFirst || 'recv_first_ts', 'min');
  const last = v(spec.windowLast || 'recv_last_ts', 'max');
  const delivered = count(spec.delivered);
  const windowS = first && last && last > first ? (last - first) / 1000 : null;
  const errors = {};
  let errorTotal = 0;
  for (const name of spec.errors) {
    errors[name] = count(name);
    errorTotal += errors[name];
  }
  const info = {};
  for (const name of spec.info || []) info[name] = count(name);
  const checks = metricValues(data, 'checks');
  const failedChecks = checks.fails || 0;
  const expected = spec.expected ? count(spec.expected) : null;
  const trends = {};
  for (const name of [spec.latency, ...(spec.extraTrends || [])]) {
    const t = metricValues(data, name);
    trends[name] = {
      p50: t['p(50)'] ?? null,
      p95: t['p(95)'] ?? null,
      p99: t['p(99)'] ?? null,
      avg: t.avg ?? null,
      max: t.max ?? null,
      count: t.count ?? 0,
    };
  }
  const out = {
    scenario: spec.scenario,
    target: TARGET,
    params: spec.params,
    delivered,
    expected,
    sent: spec.sent ? count(spec.sent) : null,
    missing: expected === null ? null : Math.max(0, expected - delivered),
    window_s: windowS,
    window_start_ms: first || null,
    window_end_ms: last || null,
    delivered_per_s: windowS ? delivered / windowS : null,
    latency_metric: spec.latency,
    latency_ms: trends[spec.latency],
    trends,
    errors,
    error_total: errorTotal,
    info,
    checks_passed: checks.passes || 0,
    checks_failed: failedChecks,
    ok: failedChecks === 0 && errorTotal === 0 && (expected === null || delivered === expected) && delivered > 0,
  };
  return out;
}

export function summaryOutput(data, spec) {
  const s = buildSummary(data, spec);
  const f = (x) => (x === null || x === undefined ? '-' : typeof x === 'number' ? x.toFixed(x < 10 ? 2 : 1) : x);
  const lines = [
    '',
    `== ${s.scenario} against ${s.target}  ${s.ok ? 'OK' : 'FAILED'}`,
    `   params: ${JSON.stringify(s.params)}`,
    `   delivered ${s.delivered}${s.expected === null ? '' : ` of expected ${s.expected} (missing ${s.missing})`}` +
      `${s.sent === null ? '' : `, sent ${s.sent}`} in ${f(s.window_s)} s → ${f(s.delivered_per_s)} msgs/s`,
  ];
  for (const [name, t] of Object.entries(s.trends)) {
    lines.push(`   ${name}: p50 ${f(t.p50)} ms  p95 ${f(t.p95)} ms  p99 ${f(t.p99)} ms  max ${f(t.max)} ms  (n=${t.count})`);
  }
  lines.push(`   errors: ${JSON.stringify(s.errors)}${Object.keys(s.info).length ? `  info: ${JSON.stringify(s.info)}` : ''}  checks: ${s.checks_passed} passed, ${s.checks_failed} failed`, '');
  const result = { stdout: lines.join('\n') };
  if (__ENV.SUMMARY) result[__ENV.SUMMARY] = JSON.stringify(s, null, 2);
  return result;
}
