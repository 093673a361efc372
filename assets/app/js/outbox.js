// Replies on their way. Each gets a client_msg_id before its first try and keeps it for every resend, so
// the server stores it once however many times it is sent (a resend answers 200 with the stored copy).
// While the live socket is down nothing is tried; the message shows as pending and goes when the socket
// is back. The queue lives in sessionStorage, so a reload or a new login in this tab still sends it.
import { api, newClientMsgId } from './api.js';
import { changed, putMessage, state } from './state.js';

const KEY = 'sb.outbox';
const sending = new Set();

/** Pending messages: [{client_msg_id, conversation_id, text, private, created_at, error?}]. */
export function pending(conversationId) {
  return load().filter((m) => !conversationId || m.conversation_id === conversationId);
}

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || '[]');
  } catch {
    return [];
  }
}

function save(items) {
  sessionStorage.setItem(KEY, JSON.stringify(items));
}

/** Queues a reply (or private note) and tries it at once when the socket is up. */
export function send(conversationId, text, isPrivate) {
  const item = { client_msg_id: newClientMsgId(), conversation_id: conversationId, text, private: !!isPrivate, created_at: Date.now() };
  save([...load(), item]);
  changed(`messages:${conversationId}`);
  if (state.connection === 'open') trySend(item);
  return item.client_msg_id;
}

/** Forgets a queued message the server has (seen live or in an answer). */
export function settle(clientMsgId) {
  const items = load();
  const left = items.filter((m) => m.client_msg_id !== clientMsgId);
  if (left.length !== items.length) save(left);
}

/** Drops a message that cannot be sent (the user chose to discard it). */
export function discard(clientMsgId, conversationId) {
  settle(clientMsgId);
  changed(`messages:${conversationId}`);
}

/** Sends everything still queued (called when the socket is back). */
export function flush() {
  for (const item of load()) trySend(item);
}

const RETRY_MS = 3000;

async function trySend(item) {
  if (sending.has(item.client_msg_id) || !load().some((m) => m.client_msg_id === item.client_msg_id)) return;
  sending.add(item.client_msg_id);
  try {
    const answer = await api('POST', `/api/conversations/${item.conversation_id}/messages`, {
      text: item.text,
      client_msg_id: item.client_msg_id,
      private: item.private,
    });
    settle(item.client_msg_id);
    const message = answer?.message;
    if (message) putMessage(message);
  } catch (err) {
    if (!err.retryable && err.status !== 401) {
      save(load().map((m) => (m.client_msg_id === item.client_msg_id ? { ...m, error: err.message } : m)));
    } else if (err.retryable && state.connection === 'open') {
      // The socket is up but the request failed (a node restarting, the store busy): try again shortly,
      // with the same client_msg_id. A socket that goes down instead resends on its return.
      setTimeout(() => state.connection === 'open' && trySend(item), RETRY_MS);
    }
  } finally {
    sending.delete(item.client_msg_id);
    changed(`messages:${item.conversation_id}`);
  }
}
