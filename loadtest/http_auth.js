// HTTP auth: `GET /api/auth/me` at RATE req/s (token validation: JWT signature + session cache, store
// on a miss) while `POST /api/auth/login` runs at LOGIN_RATE req/s (argon2 verify + a session row).
//
// Env: USERS (10 tenants, one owner each), RATE (200 me/s), LOGIN_RATE (2 logins/s; 0 = none),
//      DURATION (20 s), VUS (20 pre-allocated, MAX_VUS 200), BASE_URL, ADMIN_TOKEN, SUMMARY.
// Measures: me_ms and login_ms p50/p95/p99, successful `me` per second; every answer must be 200.
// `dropped_iterations` > 0 means k6 could not hold the arrival rate (generator-bound), not a server error.

import http from 'k6/http';
import { check } from 'k6';
import { Counter, Trend, Gauge } from 'k6/metrics';
import { envInt, BASE_URL, createTenants, PASSWORD, summaryOutput, TREND_STATS } from './lib/common.js';

const USERS = envInt('USERS', 10);
const RATE = envInt('RATE', 200);
const LOGIN_RATE = envInt('LOGIN_RATE', 2);
const DURATION = envInt('DURATION', 20);
const VUS = envInt('VUS', 20);
const MAX_VUS = envInt('MAX_VUS', 200);

const meMs = new Trend('me_ms', true);
const loginMs = new Trend('login_ms', true);
const meOk = new Counter('me_ok');
const meSent = new Counter('me_sent');
const meFailed = new Counter('me_failed');
const loginFailed = new Counter('login_failed');
const doneTs = new Gauge('done_ts'); // min/max: the measurement window

const scenarios = {
  me: {
    executor: 'constant-arrival-rate',
    rate: RATE,
    timeUnit: '1s',
    duration: `${DURATION}s`,
    preAllocatedVUs: VUS,
    maxVUs: MAX_VUS,
    exec: 'me',
  },
};
if (LOGIN_RATE > 0) {
  scenarios.login = {
    executor: 'constant-arrival-rate',
    rate: LOGIN_RATE,
    timeUnit: '1s',
    duration: `${DURATION}s`,
    preAllocatedVUs: Math.max(2, LOGIN_RATE),
    maxVUs: Math.max(20, LOGIN_RATE * 4),
    exec: 'login',
  };
}

export const options = {
  setupTimeout: '120s',
  summaryTrendStats: TREND_STATS,
  discardResponseBodies: false,
  scenarios,
  thresholds: { me_ok: ['count>0'], me_failed: ['count==0'], login_failed: ['count==0'] },
};

export function setup() {
  return { users: createTenants(USERS).map((t) => ({ email: t.email, token: t.token })) };
}

export function me(data) {
  const user = data.users[Math.floor(Math.random() * data.users.length)];
  meSent.add(1);
  const res = http.get(`${BASE_URL}/api/auth/me`, {
    headers: { authorization: `Bearer ${user.token}` },
    tags: { name: 'me' },
  });
  meMs.add(res.timings.duration);
  const ok = check(res, { 'me 200': (r) => r.status === 200 && r.body.includes(user.email) });
  doneTs.add(Date.now());
  if (ok) meOk.add(1);
  else {
    meFailed.add(1);
    console.warn(`me: HTTP ${res.status} ${String(res.body).slice(0, 200)}`);
  }
}

export function login(data) {
  const user = data.users[Math.floor(Math.random() * data.users.length)];
  const res = http.post(`${BASE_URL}/api/auth/login`, JSON.stringify({ email: user.email, password: PASSWORD }), {
    headers: { 'content-type': 'application/json' },
    tags: { name: 'login' },
  });
  loginMs.add(res.timings.duration);
  if (!check(res, { 'login 200': (r) => r.status === 200 && r.json('token') })) {
    loginFailed.add(1);
    console.warn(`login: HTTP ${res.status} ${String(res.body).slice(0, 200)}`);
  }
}

export function handleSummary(data) {
  return summaryOutput(data, {
    scenario: 'http_auth',
    delivered: 'me_ok',
    expected: 'me_sent',
    sent: 'me_sent',
    latency: 'me_ms',
    extraTrends: ['login_ms'],
    errors: ['me_failed', 'login_failed'],
    info: ['dropped_iterations'],
    windowFirst: 'done_ts',
    windowLast: 'done_ts',
    params: { USERS, RATE, LOGIN_RATE, DURATION, VUS, MAX_VUS },
  });
}
