// Dashboard fan-out over Socket.IO: SOCKETS Socket.IO sockets across TENANTS tenants, speaking raw
// Engine.IO v4 / Socket.IO v5 frames (open → CONNECT with {token}, answer every ping), receive
// `message:new` for every message a driver injects at RATE msgs/s.
//
// INJECT=socketio (default): the driver holds one extra Socket.IO socket per tenant and emits
//   `message:send` (Switchboard: an agent reply into a widget conversation made in setup(), with an ack;
//   Node peer: relayed to the room's other sockets). Works against both targets, same parameters.
// INJECT=http | widget (Switchboard only): agent replies over HTTP, or visitor messages on the widget socket.
//
// Env: SOCKETS (100), TENANTS (10), RATE (10 msgs/s total), DURATION (20 s), RECV_VUS (4),
//      CONNECT_SECONDS, DRAIN_SECONDS (5), PAD_BYTES (0), CONVERSATIONS (1 per tenant), LAT_SAMPLE (1),
//      TARGET (switchboard | node-peer), BASE_URL, SIO_URL, ADMIN_TOKEN, JWT_SECRET (node peer), SUMMARY.
// Measures: delivery_ms (send → receipt on each socket), delivered msgs/s, expected vs delivered,
//           inject_ack_ms (Switchboard's ack of message:send: stored + published), connect_ms.

import { envStr } from './lib/common.js';
import { summaryOutput } from './lib/common.js';
import { fanoutOptions, fanoutSetup, receiverLoop, driverLoop, fanoutSummarySpec } from './lib/fanout.js';

const INJECT = envStr('INJECT', 'socketio');

export const options = fanoutOptions('socketio', INJECT);

export function setup() {
  return fanoutSetup(INJECT);
}

export function receivers(data) {
  receiverLoop('socketio', data);
}

export function driver(data) {
  driverLoop(INJECT, data);
}

export function handleSummary(data) {
  return summaryOutput(data, fanoutSummarySpec('dashboard_socketio', INJECT));
}
