// Keeps the state in step with the server: the first load, every live event of the dashboard socket,
// and the catch-up after a reconnect (the replay carries what was missed; a `recovery:reset` refetches).
import { api, query } from './api.js';
import { DashboardSocket } from './socket.js';
import { state, changed, putMessage, thread, upsertConversation } from './state.js';
import * as outbox from './outbox.js';
import { notify, updateTitle } from './notify.js';
import { announce } from './dom.js';
import { visitorName } from './format.js';

let socket = null;
let everOpen = false;
const fetching = new Set();

/** Whether the stream has been up since the page loaded (before that, its first `recovery:*` loads the list). */
export function hasConnected() {
  return everOpen;
}

/** The open socket, for views that send typing frames. */
export function liveSocket() {
  return socket;
}

/** Loads what the page needs and opens the live stream. */
export function startLive(open) {
  socket = new DashboardSocket();
  socket.on('status', (status) => {
    state.connection = status;
    changed('connection');
  });
  socket.on('recovery:ready', (data) => {
    // The first connection and a reconnect whose replay was complete: only a first load needs fetching.
    if (!everOpen) refetch();
    else announce(`Reconnected${data?.replayed ? `, ${data.replayed} updates caught up` : ''}`);
    everOpen = true;
    outbox.flush();
  });
  socket.on('recovery:reset', () => {
    everOpen = true;
    refetch();
    outbox.flush();
  });
  socket.on('message:new', (data) => onMessage(data.message));
  socket.on('activity:new', onActivity);
  socket.on('typing', onTyping);
  socket.on('read', onRead);
  socket.on('metrics:updated', (m) => {
    state.metrics = m;
    changed('metrics');
  });
  socket.on('presence:updated', (p) => {
    const member = state.members.get(p.member_id);
    if (member) {
      state.members.set(p.member_id, { ...member, presence: p.availability });
      changed('members');
    }
  });
  socket.on('notification:new', (n) => notify(n, open));
  window.addEventListener('online', () => socket?.kick());
  loadTeam();
  socket.start();
}

/** Closes the stream (logout, expired session). */
export function stopLive() {
  socket?.stop();
  socket = null;
  everOpen = false;
}

async function loadTeam() {
  const [members, labels] = await Promise.all([
    api('GET', '/api/team/members').catch(() => null),
    api('GET', '/api/labels').catch(() => null),
  ]);
  if (members) {
    state.members = new Map(members.members.map((m) => [m.id, m]));
    changed('members');
  }
  if (labels) {
    state.labels = labels.labels || [];
    changed('labels');
  }
}

/** The list's first page for the current filters. */
export async function loadList({ more = false } = {}) {
  const f = state.filters;
  const cursor = more ? state.nextCursor : null;
  if (more && !cursor) return;
  const key = `list:${JSON.stringify(f)}:${cursor}`;
  if (fetching.has(key)) return;
  fetching.add(key);
  state.listLoading = true;
  changed('conversations');
  try {
    const page = await api('GET', `/api/products/chatbot/conversations${query({ ...f, limit: 30, cursor })}`);
    if (!more) state.order = [];
    for (const c of page.conversations) {
      state.conversations.set(c.id, { ...state.conversations.get(c.id), ...c });
      if (!state.order.includes(c.id)) state.order.push(c.id);
    }
    state.nextCursor = page.next_cursor || null;
    state.listError = null;
  } catch (err) {
    state.listError = err.message;
  } finally {
    fetching.delete(key);
    state.listLoading = false;
    changed('conversations');
    updateTitle();
  }
}

/** After the first connection or a lost place: the list again, and the open thread from where it stood. */
function refetch() {
  loadList();
  if (state.selected) loadNewer(state.selected);
  for (const id of state.conversations.keys()) if (id !== state.selected) state.threads.delete(id);
}

/** Messages after the newest one shown (a catch-up), or the newest page when none is loaded. */
export async function loadNewer(id) {
  const t = thread(id);
  const newest = Math.max(0, ...t.messages.keys());
  if (!t.loaded) return loadOlder(id);
  let after = newest;
  for (;;) {
    const page = await api('GET', `/api/conversations/${id}/messages${query({ after, limit: 100 })}`).catch(() => null);
    if (!page) return;
    for (const m of page.messages) addMessage(m);
    changed(`messages:${id}`);
    if (!page.next_after || page.messages.length === 0) break;
    after = page.next_after;
  }
  api('GET', `/api/conversations/${id}`).then(upsertConversation, () => {});
}

/** The page before the oldest message shown (the newest page first). */
export async function loadOlder(id) {
  const t = thread(id);
  if (t.complete || t.loading) return;
  t.loading = true;
  try {
    const page = await api('GET', `/api/conversations/${id}/messages${query({ before: t.oldest ?? undefined, limit: 40 })}`);
    for (const m of page.messages) addMessage(m);
    t.loaded = true;
    t.complete = !page.prev_before || page.messages.length === 0;
    t.oldest = page.prev_before ?? (page.messages[0]?.seq ?? null);
  } finally {
    t.loading = false;
    changed(`messages:${id}`);
  }
}

function addMessage(message) {
  putMessage(message);
  if (message.client_msg_id) outbox.settle(message.client_msg_id);
}

function onMessage(message) {
  const id = message.conversation_id;
  const t = thread(id);
  addMessage(message);
  const known = state.conversations.get(id);
  const viewing = state.selected === id && document.visibilityState === 'visible';
  if (message.sender === 'visitor') setTyping(id, 'visitor', false);
  if (!known) {
    fetchConversation(id);
  } else {
    const unread = message.sender === 'visitor' && !viewing ? (known.unread_count || 0) + 1 : known.unread_count || 0;
    upsertConversation({
      id,
      last_message: message,
      last_seq: Math.max(known.last_seq || 0, message.seq),
      updated_at: Math.max(known.updated_at || 0, message.created_at),
      unread_count: unread,
    });
  }
  if (t.loaded || state.selected === id) changed(`messages:${id}`);
  if (viewing && message.sender === 'visitor') {
    markRead(id, message.seq);
    announce(`${visitorName(state.conversations.get(id))}: ${message.text}`);
  }
  updateTitle();
}

async function fetchConversation(id) {
  if (fetching.has(id)) return;
  fetching.add(id);
  try {
    const conversation = await api('GET', `/api/conversations/${id}`);
    const t = thread(id);
    const messages = [...t.messages.values()];
    const last = messages.sort((a, b) => b.seq - a.seq)[0];
    upsertConversation({
      last_message: last,
      unread_count: messages.filter((m) => m.sender === 'visitor' && m.seq > (conversation.agent_read_seq || 0)).length,
      ...conversation,
    });
    updateTitle();
  } catch {
    // Gone or not ours: nothing to show.
  } finally {
    fetching.delete(id);
  }
}

function onActivity(a) {
  const id = a.conversation_id;
  if (!id) return;
  const known = state.conversations.get(id);
  if (a.type === 'conversation_opened' && !known) return fetchConversation(id);
  if (!known) return;
  if (a.type === 'assigned') upsertConversation({ id, assignee_id: a.assignee_id });
  else if (a.type === 'labels_changed') upsertConversation({ id, labels: a.labels });
  else if (a.type === 'conversation_closed') upsertConversation({ id, status: 'closed' });
  else if (a.type === 'conversation_reopened') upsertConversation({ id, status: 'open' });
  else if (a.type === 'csat_received') upsertConversation({ id, csat_rating: a.rating, csat_comment: a.comment ?? null });
  else if (a.type === 'delivery_updated') {
    const t = thread(id);
    for (const m of t.messages.values()) if (m.id === a.message_id) m.delivery = a.delivery;
    if (a.error) state.deliveryErrors.set(a.message_id, a.error);
    changed(`messages:${id}`);
  }
}

function setTyping(id, who, on) {
  const now = state.typing.get(id) || {};
  state.typing.set(id, { ...now, [who]: on ? Date.now() : 0 });
  changed(`typing:${id}`);
}

function onTyping(t) {
  setTyping(t.conversation_id, t.from === 'visitor' ? 'visitor' : 'agent', t.is_typing);
}

function onRead(r) {
  const known = state.conversations.get(r.conversation_id);
  if (!known) return;
  if (r.from === 'visitor') upsertConversation({ id: r.conversation_id, visitor_read_seq: Math.max(known.visitor_read_seq || 0, r.seq) });
  else {
    const agentRead = Math.max(known.agent_read_seq || 0, r.seq);
    upsertConversation({ id: r.conversation_id, agent_read_seq: agentRead, unread_count: agentRead >= (known.last_seq || 0) ? 0 : known.unread_count });
    updateTitle();
  }
  changed(`messages:${r.conversation_id}`);
}

/** Marks a conversation read up to `seq` (members and above; viewers only look). */
export function markRead(id, seq) {
  const known = state.conversations.get(id);
  if (!known || state.me.role === 'viewer') return;
  const upTo = seq ?? known.last_seq;
  if (!upTo || (known.agent_read_seq || 0) >= upTo) return;
  upsertConversation({ id, agent_read_seq: upTo, unread_count: 0 });
  updateTitle();
  api('POST', `/api/conversations/${id}/read`, { seq: upTo }).catch(() => {});
}
