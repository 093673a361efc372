// Provider webhooks: signed Messenger and Twilio WhatsApp deliveries at RATE req/s. Each answer comes
// after the store has the message, so the response time is the ingest (verify + parse + persist) latency.
//
// Messenger: POST /api/webhooks/messenger, JSON {object:"page", entry:[{id:PAGE_ID, time, messaging:[
//   {sender:{id}, recipient:{id:PAGE_ID}, timestamp, message:{mid, text}}]}]}, BATCH events per body,
//   header X-Hub-Signature-256: sha256=<hex HMAC-SHA256(raw body, MESSENGER_APP_SECRET)>.
// WhatsApp: POST /api/webhooks/twilio/whatsapp, form From, To, Body, MessageSid, NumMedia=0, header
//   X-Twilio-Signature: base64(HMAC-SHA1(TWILIO_AUTH_TOKEN, PUBLIC_URL + path + sorted name+value pairs)).
// Set-up: each tenant connects a page (POST /api/integrations {provider:"messenger", page_id}) and a
//   number ({provider:"whatsapp", number}). Contacts: CONTACTS per tenant and provider (one conversation each).
// Delivery check (teardown): the messages stored in the tenants' messenger/whatsapp conversations
//   (Σ last_seq over GET /api/products/chatbot/conversations) must equal the events the server accepted.
//
// Env: TENANTS (2), RATE (50 req/s), DURATION (20 s), BATCH (1 Messenger event per body), CONTACTS (20),
//      PROVIDERS ("messenger,whatsapp"), VUS (20), MAX_VUS (200), MESSENGER_APP_SECRET, TWILIO_AUTH_TOKEN,
//      PUBLIC_URL (defaults to BASE_URL), BASE_URL, ADMIN_TOKEN, SUMMARY. The server must run with the same
//      MESSENGER_APP_SECRET, MESSENGER_VERIFY_TOKEN, TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (loadtest/run does).

import http from 'k6/http';
import crypto from 'k6/crypto';
import exec from 'k6/execution';
import { check } from 'k6';
import { Counter, Trend, Gauge } from 'k6/metrics';
import { envInt, envStr, BASE_URL, createTenants, authHeaders, summaryOutput, TREND_STATS } from './lib/common.js';

const TENANTS = envInt('TENANTS', 2);
const RATE = envInt('RATE', 50);
const DURATION = envInt('DURATION', 20);
const BATCH = Math.max(1, envInt('BATCH', 1));
const CONTACTS = envInt('CONTACTS', 20);
const PROVIDERS = envStr('PROVIDERS', 'messenger,whatsapp').split(',');
const VUS = envInt('VUS', 20);
const MAX_VUS = envInt('MAX_VUS', 200);
const MESSENGER_SECRET = envStr('MESSENGER_APP_SECRET', 'loadtest-messenger-secret');
const TWILIO_TOKEN = envStr('TWILIO_AUTH_TOKEN', 'loadtest-twilio-token');
const PUBLIC_URL = envStr('PUBLIC_URL', BASE_URL).replace(/\/$/, '');

const webhookMs = new Trend('webhook_ms', true);
const messengerMs = new Trend('messenger_ms', true);
const whatsappMs = new Trend('whatsapp_ms', true);
const accepted = new Counter('events_accepted'); // messages in bodies the server answered 200
const sentEvents = new Counter('events_sent');
const rejected = new Counter('webhook_rejected');
const stored = new Counter('events_stored'); // counted in teardown from the conversations API
const storeCheckErrors = new Counter('store_check_errors');
const doneTs = new Gauge('done_ts'); // min/max: the measurement window

export const options = {
  setupTimeout: '120s',
  teardownTimeout: '60s',
  summaryTrendStats: TREND_STATS,
  scenarios: {
    webhooks: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: `${DURATION}s`,
      preAllocatedVUs: VUS,
      maxVUs: MAX_VUS,
    },
  },
  thresholds: { events_accepted: ['count>0'], webhook_rejected: ['count==0'] },
};

export function setup() {
  const tenants = createTenants(TENANTS);
  const run = String(Date.now()).slice(-7);
  tenants.forEach((t, i) => {
    t.page_id = `9${run}${String(i).padStart(4, '0')}`;
    t.number = `+1555${String(Number(run) + i).padStart(7, '0').slice(-7)}`;
    if (PROVIDERS.includes('messenger')) {
      const r = http.post(`${BASE_URL}/api/integrations`, JSON.stringify({ provider: 'messenger', page_id: t.page_id }), {
        headers: authHeaders(t.token),
      });
      if (r.status !== 201) throw new Error(`connect page: HTTP ${r.status} ${r.body}`);
    }
    if (PROVIDERS.includes('whatsapp')) {
      const r = http.post(`${BASE_URL}/api/integrations`, JSON.stringify({ provider: 'whatsapp', number: t.number }), {
        headers: authHeaders(t.token),
      });
      if (r.status !== 201) throw new Error(`connect number: HTTP ${r.status} ${r.body}`);
    }
  });
  return { tenants, run };
}

function hex(width) {
  let s = '';
  while (s.length < width) s += Math.floor(Math.random() * 0x100000000).toString(16).padStart(8, '0');
  return s.slice(0, width);
}

function messenger(tenant, data, i) {
  const now = Date.now();
  const messaging = [];
  for (let b = 0; b < BATCH; b++) {
    const contact = `7${data.run}${String(tenant.index).padStart(3, '0')}${Math.floor(Math.random() * CONTACTS)}`;
    messaging.push({
      sender: { id: contact },
      recipient: { id: tenant.page_id },
      timestamp: now,
      message: { mid: `m_lt_${data.run}_${i}_${b}_${hex(12)}`, text: `lt webhook ${i}/${b} ${now}` },
    });
  }
  const body = JSON.stringify({ object: 'page', entry: [{ id: tenant.page_id, time: now, messaging }] });
  const signature = `sha256=${crypto.hmac('sha256', MESSENGER_SECRET, body, 'hex')}`;
  const res = http.post(`${BASE_URL}/api/webhooks/messenger`, body, {
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature },
    tags: { name: 'messenger' },
  });
  messengerMs.add(res.timings.duration);
  return [res, BATCH];
}

function whatsapp(tenant, data, i) {
  const params = {
    From: `whatsapp:+1666${String(tenant.index).padStart(3, '0')}${String(Math.floor(Math.random() * CONTACTS)).padStart(4, '0')}`,
    To: `whatsapp:${tenant.number}`,
    Body: `lt webhook ${i} ${Date.now()}`,
    MessageSid: `SM${hex(32)}`,
    NumMedia: '0',
  };
  const path = '/api/webhooks/twilio/whatsapp';
  const names = Object.keys(params).sort();
  const signature = crypto.hmac('sha1', TWILIO_TOKEN, PUBLIC_URL + path + names.map((n) => n + params[n]).join(''), 'base64');
  const body = names.map((n) => `${encodeURIComponent(n)}=${encodeURIComponent(params[n])}`).join('&');
  const res = http.post(`${BASE_URL}${path}`, body, {
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
    tags: { name: 'whatsapp' },
  });
  whatsappMs.add(res.timings.duration);
  return [res, 1];
}

export default function (data) {
  const i = exec.scenario.iterationInTest;
  const tenant = data.tenants[i % data.tenants.length];
  const provider = PROVIDERS[Math.floor(i / data.tenants.length) % PROVIDERS.length];
  const [res, events] = provider === 'messenger' ? messenger(tenant, data, i) : whatsapp(tenant, data, i);
  sentEvents.add(events);
  webhookMs.add(res.timings.duration);
  doneTs.add(Date.now());
  if (check(res, { [`${provider} 200`]: (r) => r.status === 200 })) accepted.add(events);
  else {
    rejected.add(1);
    console.warn(`${provider}: HTTP ${res.status} ${String(res.body).slice(0, 200)}`);
  }
}

export function teardown(data) {
  let total = 0;
  for (const tenant of data.tenants) {
    let cursor = null;
    for (let page = 0; page < 1000; page++) {
      const q = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const res = http.get(`${BASE_URL}/api/products/chatbot/conversations?limit=100${q}`, { headers: authHeaders(tenant.token) });
      if (res.status !== 200) {
        storeCheckErrors.add(1);
        console.error(`list conversations: HTTP ${res.status} ${res.body}`);
        break;
      }
      const body = res.json();
      for (const c of body.conversations) if (c.channel === 'messenger' || c.channel === 'whatsapp') total += c.last_seq;
      cursor = body.next_cursor;
      if (!cursor) break;
    }
  }
  stored.add(total);
}

export function handleSummary(data) {
  return summaryOutput(data, {
    scenario: 'webhooks',
    delivered: 'events_stored',
    expected: 'events_accepted',
    sent: 'events_sent',
    latency: 'webhook_ms',
    extraTrends: ['messenger_ms', 'whatsapp_ms'],
    errors: ['webhook_rejected', 'store_check_errors'],
    info: ['dropped_iterations'],
    windowFirst: 'done_ts',
    windowLast: 'done_ts',
    params: { TENANTS, RATE, DURATION, BATCH, CONTACTS, PROVIDERS: PROVIDERS.join(','), VUS, MAX_VUS },
  });
}
