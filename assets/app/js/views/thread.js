// One conversation: its header with the actions (assign, close/reopen), the history (paged back on
// scroll), live messages with their read and delivery states, the typing line and the composer.
import { api } from '../api.js';
import { h, icon, replace, toast, announce } from '../dom.js';
import { channelIcon, channelName, clock, dayLabel, memberName, visitorName } from '../format.js';
import { loadOlder } from '../live.js';
import * as outbox from '../outbox.js';
import { can, state, subscribe, thread, upsertConversation } from '../state.js';
import { renderComposer } from './composer.js';

const TYPING_STALE_MS = 8_000;

/** Renders conversation `id` into `pane`; returns {dispose()}. */
export function renderThread(pane, id, { toggleDetails }) {
  const disposers = [];
  const on = (topic, fn) => disposers.push(subscribe(topic, fn));
  const head = h('header', { class: 'thread-head' });
  // The history is redrawn as a whole, so it is not a live region itself: new messages are announced once each
  // (live.js), which a screen reader reads instead of the whole log again.
  const messages = h('div', { class: 'messages', role: 'log', 'aria-label': 'Messages', 'aria-live': 'off', tabindex: '0' });
  const typing = h('div', { class: 'typing', 'aria-live': 'polite' });
  const composerSlot = h('div');
  replace(pane, head, messages, typing, composerSlot);

  const drawHead = () => drawHeader(head, id, toggleDetails);
  on(`conversation:${id}`, drawHead);
  on('members', drawHead);
  drawHead();

  let stickToBottom = true;
  messages.addEventListener('scroll', () => {
    stickToBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 60;
    if (messages.scrollTop < 80) older();
  });
  const older = async () => {
    const before = messages.scrollHeight;
    const t = thread(id);
    if (t.complete || t.loading) return;
    await loadOlder(id).catch((err) => toast(err.message, { error: true }));
    messages.scrollTop += messages.scrollHeight - before;
  };
  const drawMessages = () => {
    drawHistory(messages, id);
    if (stickToBottom) messages.scrollTop = messages.scrollHeight;
  };
  on(`messages:${id}`, drawMessages);
  on(`conversation:${id}`, drawMessages);
  on('connection', drawMessages);
  if (!thread(id).loaded) loadOlder(id).catch((err) => toast(err.message, { error: true }));
  drawMessages();

  const drawTyping = () => {
    const now = Date.now();
    const t = state.typing.get(id) || {};
    const who = [];
    if (t.visitor && now - t.visitor < TYPING_STALE_MS) who.push(`${visitorName(state.conversations.get(id))} is typing…`);
    if (t.agent && now - t.agent < TYPING_STALE_MS) who.push('A teammate is typing…');
    typing.textContent = who.join(' ');
  };
  on(`typing:${id}`, drawTyping);
  const typingTimer = setInterval(drawTyping, 2000);

  const drawComposer = () => {
    const c = state.conversations.get(id);
    if (!can('member')) replace(composerSlot, h('div', { class: 'closed-bar' }, 'You can read this conversation; your role cannot reply.'));
    else if (c?.status === 'closed') {
      replace(composerSlot, h('div', { class: 'closed-bar' }, 'This conversation is closed.',
        h('button', { class: 'btn small', onclick: () => setStatus(id, 'reopen') }, 'Reopen')));
    } else if (!composerSlot.querySelector('.composer')) replace(composerSlot, renderComposer(id));
  };
  on(`conversation:${id}`, drawComposer);
  drawComposer();

  return { dispose: () => { disposers.forEach((d) => d()); clearInterval(typingTimer); } };
}

async function setStatus(id, action) {
  try {
    upsertConversation(await api('POST', `/api/conversations/${id}/${action}`));
    announce(action === 'close' ? 'Conversation closed' : 'Conversation reopened');
  } catch (err) {
    toast(err.message, { error: true });
  }
}

/** Assigns to a member id, to 'me', or unassigns (''). */
async function assign(id, to) {
  try {
    const c = to ? await api('PUT', `/api/conversations/${id}/assignee`, { assignee_id: to })
      : await api('DELETE', `/api/conversations/${id}/assignee`);
    upsertConversation(c);
    announce(to ? 'Assigned' : 'Unassigned');
  } catch (err) {
    toast(err.message, { error: true });
  }
}

function drawHeader(head, id, toggleDetails) {
  const c = state.conversations.get(id) || { id };
  const name = visitorName(c);
  const actions = h('div', { class: 'actions' });
  if (can('member')) {
    const mine = c.assignee_id === state.me.id;
    // Members take what nobody has; reassigning someone else's conversation is a manager's right.
    if (!mine && (!c.assignee_id || can('manager'))) actions.append(h('button', { class: 'btn small', dataset: { action: 'take' }, onclick: () => assign(id, 'me') }, icon('user'), 'Assign to me'));
    const select = h('select', { class: 'assignee-select', 'aria-label': 'Assignee', disabled: !can('manager') && !mine && !!c.assignee_id });
    select.append(h('option', { value: '' }, 'Unassigned'));
    for (const m of state.members.values()) {
      if (m.status === 'deactivated') continue;
      if (!can('manager') && m.id !== state.me.id && m.id !== c.assignee_id) continue;
      select.append(h('option', { value: m.id }, m.id === state.me.id ? `${memberName(m)} (you)` : memberName(m)));
    }
    select.value = c.assignee_id || '';
    select.addEventListener('change', () => assign(id, select.value === state.me.id ? 'me' : select.value));
    actions.append(select);
    actions.append(c.status === 'closed'
      ? h('button', { class: 'btn small', onclick: () => setStatus(id, 'reopen') }, 'Reopen')
      : h('button', { class: 'btn small primary', dataset: { action: 'close' }, onclick: () => setStatus(id, 'close') }, icon('check'), 'Close'));
  }
  actions.append(h('button', { class: 'icon-btn details-toggle', 'aria-label': 'Show details', onclick: toggleDetails }, icon('panel')));
  replace(head,
    h('a', { class: 'icon-btn back', href: '#/inbox', 'aria-label': 'Back to the list' }, icon('back')),
    h('div', {}, h('h2', {}, channelIcon(c.channel), name),
      h('div', { class: 'sub' }, `${channelName(c.channel)} · ${c.status === 'closed' ? 'Closed' : 'Open'}`)),
    actions);
}

function drawHistory(box, id) {
  const t = thread(id);
  const c = state.conversations.get(id) || {};
  const stored = [...t.messages.values()].sort((a, b) => a.seq - b.seq);
  const ids = new Set(stored.map((m) => m.client_msg_id).filter(Boolean));
  const pending = outbox.pending(id).filter((p) => !ids.has(p.client_msg_id));
  const nodes = [];
  if (!t.loaded) nodes.push(h('p', { class: 'empty' }, 'Loading the conversation…'));
  else if (!t.complete) nodes.push(h('button', { class: 'btn small load-older', onclick: () => loadOlder(id) }, 'Load earlier messages'));
  let lastDay = '';
  const lastAgentSeq = Math.max(0, ...stored.filter((m) => m.sender === 'agent' && m.kind !== 'note').map((m) => m.seq));
  for (const m of stored) {
    const day = dayLabel(m.created_at);
    if (day !== lastDay) nodes.push(h('div', { class: 'day' }, day));
    lastDay = day;
    nodes.push(message(m, c, m.seq === lastAgentSeq));
  }
  for (const p of pending) nodes.push(pendingMessage(p));
  if (c.csat_rating) {
    nodes.push(h('div', { class: 'msg system' }, h('div', { class: 'bubble' },
      `Rated ${'★'.repeat(c.csat_rating)}${'☆'.repeat(5 - c.csat_rating)}${c.csat_comment ? ` — “${c.csat_comment}”` : ''}`)));
  }
  replace(box, ...nodes);
}

function message(m, c, lastAgent) {
  const note = m.kind === 'note';
  const cls = note ? 'note' : m.sender;
  const author = m.author_id ? state.members.get(m.author_id) : null;
  const by = note ? `Private note · ${memberName(author)}` : m.sender === 'agent' ? (author ? memberName(author) : 'Bot') : null;
  const foot = h('div', { class: 'foot' }, h('time', { datetime: new Date(m.created_at).toISOString() }, clock(m.created_at)));
  if (m.sender === 'agent' && !note) foot.append(deliveryState(m, c, lastAgent));
  const who = note ? 'Private note' : m.sender === 'visitor' ? visitorName(c) : m.sender === 'agent' ? memberName(author) : 'System';
  return h('div', { class: `msg ${cls}`, dataset: { seq: m.seq, kind: m.kind, sender: m.sender } },
    by ? h('div', { class: 'by' }, by) : null,
    h('div', { class: 'bubble' }, h('span', { class: 'sr-only' }, `${who}: `), m.kind === 'attachment' ? attachment(m.text) : m.text),
    foot);
}

function attachment(url) {
  return /^https?:\/\//.test(url) ? h('a', { href: url, target: '_blank', rel: 'noopener noreferrer', style: 'color:inherit' }, 'Attachment') : url;
}

function deliveryState(m, c, lastAgent) {
  if (m.delivery) {
    const error = state.deliveryErrors.get(m.id);
    const label = { pending: 'Sending', sent: 'Sent', delivered: 'Delivered', failed: `Not delivered${error ? `: ${error}` : ''}` }[m.delivery] || m.delivery;
    return h('span', { class: `state ${m.delivery}`, dataset: { delivery: m.delivery } }, m.delivery === 'failed' ? icon('alert') : icon(m.delivery === 'delivered' ? 'checks' : 'check'), label);
  }
  const seen = (c.visitor_read_seq || 0) >= m.seq;
  if (seen && lastAgent) return h('span', { class: 'state read', dataset: { read: 'true' } }, icon('checks'), 'Seen');
  return h('span', { class: 'state' }, icon('check'), h('span', { class: 'sr-only' }, 'Sent'));
}

function pendingMessage(p) {
  const cls = p.private ? 'note' : 'agent';
  const foot = h('div', { class: 'foot' }, p.error
    ? h('span', { class: 'state failed' }, icon('alert'), `Not sent: ${p.error} `,
      h('button', { class: 'btn small ghost', onclick: () => outbox.discard(p.client_msg_id, p.conversation_id) }, 'Discard'))
    : h('span', { class: 'state' }, icon('clock'), state.connection === 'open' ? 'Sending…' : 'Waiting for the connection'));
  return h('div', { class: `msg ${cls} pending`, dataset: { pending: 'true', clientMsgId: p.client_msg_id } },
    p.private ? h('div', { class: 'by' }, 'Private note') : null, h('div', { class: 'bubble' }, p.text), foot);
}
