// Dashboard fan-out over the plain WebSocket `/ws/dashboard?token=…`: SOCKETS sockets across TENANTS
// tenants receive `{"event":"message:new","data":{channel,message:{…}}}` for every injected message.
//
// INJECT=widget (default): one widget visitor per tenant sends RATE msgs/s in total (the server's ack
//   after persist is inject_ack_ms). INJECT=http: agent replies `POST /api/conversations/{id}/messages`
//   into a conversation made in setup(). INJECT=socketio: agent replies emitted over Socket.IO.
//
// Env: SOCKETS (100), TENANTS (10), RATE (10), DURATION (20), RECV_VUS (4), CONNECT_SECONDS,
//      DRAIN_SECONDS (5), PAD_BYTES (0), CONVERSATIONS (1), LAT_SAMPLE (1), BASE_URL, ADMIN_TOKEN, SUMMARY.
// Switchboard only (the Node peer has no plain WebSocket endpoint).

import { envStr, summaryOutput } from './lib/common.js';
import { fanoutOptions, fanoutSetup, receiverLoop, driverLoop, fanoutSummarySpec } from './lib/fanout.js';

const INJECT = envStr('INJECT', 'widget');

export const options = fanoutOptions('ws', INJECT);

export function setup() {
  return fanoutSetup(INJECT);
}

export function receivers(data) {
  receiverLoop('ws', data);
}

export function driver(data) {
  driverLoop(INJECT, data);
}

export function handleSummary(data) {
  return summaryOutput(data, fanoutSummarySpec('dashboard_ws', INJECT));
}
