// What the page knows, in one place, and who wants to hear when it changes. Views subscribe to topics
// ('conversations', 'conversation:<id>', 'messages:<id>', 'typing:<id>', 'metrics', 'members', 'connection', 'me').

const subscribers = new Map();

/** The shared state; mutate through the helpers below, then `changed(topic)`. */
export const state = {
  me: null, // {id, email, role, license_key, products}
  members: new Map(), // id → member
  labels: [], // [{name, color}]
  conversations: new Map(), // id → conversation (as the list API gives it)
  order: [], // ids shown in the list, most recently active first
  nextCursor: null,
  filters: { status: 'open', assignee: '', label: '', channel: '', unread: false, q: '' },
  selected: null, // conversation id
  threads: new Map(), // id → {messages: Map(seq → message), oldest, complete, visitorReadSeq}
  typing: new Map(), // conversation id → {visitor: bool, agents: Set}
  deliveryErrors: new Map(), // message id → provider error
  metrics: null,
  connection: 'connecting',
  sessionSwap: null, // a request in flight that replaces this page's session (turning on two-factor)
  notifications: 0,
};

/** Calls `fn` whenever `topic` changes; returns the unsubscribe function. */
export function subscribe(topic, fn) {
  if (!subscribers.has(topic)) subscribers.set(topic, new Set());
  subscribers.get(topic).add(fn);
  return () => subscribers.get(topic)?.delete(fn);
}

/** Tells the subscribers of `topic`. */
export function changed(topic, detail) {
  for (const fn of [...(subscribers.get(topic) || [])]) fn(detail);
}

/** Drops every subscription (the view tree is being rebuilt). */
export function resetSubscriptions() {
  subscribers.clear();
}

const ROLE_RANK = { viewer: 0, member: 1, manager: 2, admin: 3, owner: 4 };

/** Whether the signed-in member has at least `role`. */
export function can(role) {
  return (ROLE_RANK[state.me?.role] ?? -1) >= ROLE_RANK[role];
}

/** The thread record of a conversation, made on first use. */
export function thread(id) {
  if (!state.threads.has(id)) state.threads.set(id, { messages: new Map(), oldest: null, complete: false, loaded: false });
  return state.threads.get(id);
}

/** Whether `conversation` belongs in the list under the current filters (search results are not kept live). */
export function matchesFilters(conversation) {
  const f = state.filters;
  if (f.status && conversation.status !== f.status) return false;
  if (f.assignee === 'me' && conversation.assignee_id !== state.me?.id) return false;
  if (f.assignee === 'unassigned' && conversation.assignee_id) return false;
  if (f.assignee && !['me', 'unassigned'].includes(f.assignee) && conversation.assignee_id !== f.assignee) return false;
  if (f.label && !(conversation.labels || []).includes(f.label)) return false;
  if (f.channel && conversation.channel !== f.channel) return false;
  if (f.unread && !(conversation.unread_count > 0)) return false;
  return true;
}

/** Stores a conversation and places it in the list (or out of it) by the filters and its activity. */
export function upsertConversation(conversation) {
  const known = state.conversations.get(conversation.id) || {};
  const merged = { ...known, ...conversation };
  state.conversations.set(conversation.id, merged);
  const at = state.order.indexOf(conversation.id);
  const belongs = matchesFilters(merged) && !state.filters.q;
  if (at >= 0) state.order.splice(at, 1);
  if (belongs || (at >= 0 && state.filters.q)) {
    const position = state.order.findIndex((id) => (state.conversations.get(id)?.updated_at || 0) < (merged.updated_at || 0));
    state.order.splice(position < 0 ? state.order.length : position, 0, conversation.id);
  }
  changed('conversations');
  changed(`conversation:${conversation.id}`);
  return merged;
}

const DELIVERY_RANK = { pending: 0, sent: 1, delivered: 2, failed: 3 };

/** Stores a message in its thread. Copies arrive by several roads (the live event, the send answer, a page of
 * history) in any order, so the delivery state only moves forward: a late copy never undoes a newer state. */
export function putMessage(message) {
  const messages = thread(message.conversation_id).messages;
  const known = messages.get(message.seq);
  const delivery = [known?.delivery, message.delivery].filter(Boolean).sort((a, b) => DELIVERY_RANK[b] - DELIVERY_RANK[a])[0];
  messages.set(message.seq, delivery ? { ...message, delivery } : message);
}
