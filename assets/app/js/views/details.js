// The side panel of a conversation: who the visitor is and where they came from (page, referrer, UTM),
// its labels, its assignee and its rating.
import { api } from '../api.js';
import { h, icon, replace, toast } from '../dom.js';
import { avatar, channelName, memberName, visitorName } from '../format.js';
import { can, state, subscribe, upsertConversation } from '../state.js';

const CONTEXT_KEYS = [
  ['page_url', 'Page'], ['page_host', 'Site'], ['referrer', 'Referrer'], ['utm_source', 'Source'], ['utm_medium', 'Medium'],
  ['utm_campaign', 'Campaign'], ['utm_term', 'Term'], ['utm_content', 'Content'], ['account_id', 'Received on'],
];

/** Renders the details of conversation `id` into `pane`; returns {dispose()}. */
export function renderDetails(pane, id, { close }) {
  const draw = () => drawDetails(pane, id, close);
  const offs = [subscribe(`conversation:${id}`, draw), subscribe('labels', draw), subscribe('members', draw)];
  draw();
  return { dispose: () => offs.forEach((off) => off()) };
}

function drawDetails(pane, id, close) {
  const c = state.conversations.get(id);
  if (!c) return replace(pane);
  const meta = c.metadata || {};
  const name = visitorName(c);
  const known = new Set(CONTEXT_KEYS.map(([k]) => k).concat(['timestamp', 'name', 'email', 'product_key', 'visitor_id']));
  const extra = Object.entries(meta).filter(([k, v]) => !known.has(k) && (typeof v === 'string' || typeof v === 'number'));
  const context = CONTEXT_KEYS.filter(([k]) => meta[k]).concat(extra.map(([k]) => [k, k]));
  const assignee = c.assignee_id ? state.members.get(c.assignee_id) : null;
  replace(pane,
    h('section', {},
      h('div', { style: 'display:flex;align-items:center;gap:10px' }, avatar(name, c.contact_id || c.id),
        h('div', { style: 'flex:1;min-width:0' }, h('strong', {}, name), h('div', { class: 'hint' }, channelName(c.channel))),
        h('button', { class: 'icon-btn details-toggle', 'aria-label': 'Hide details', onclick: close }, icon('x')))),
    h('section', {}, h('h3', {}, 'Conversation'),
      h('dl', { class: 'kv' },
        h('dt', {}, 'Status'), h('dd', {}, c.status === 'closed' ? 'Closed' : 'Open'),
        h('dt', {}, 'Assignee'), h('dd', {}, assignee ? memberName(assignee) : 'Unassigned'),
        h('dt', {}, 'Started'), h('dd', {}, c.created_at ? new Date(c.created_at).toLocaleString() : '—'),
        h('dt', {}, 'Rating'), h('dd', {}, c.csat_rating
          ? h('span', { class: 'stars', 'aria-label': `${c.csat_rating} out of 5` }, '★'.repeat(c.csat_rating) + '☆'.repeat(5 - c.csat_rating))
          : c.status === 'closed' ? 'Not rated yet' : '—'),
        c.csat_comment ? [h('dt', {}, 'Comment'), h('dd', {}, c.csat_comment)] : null)),
    h('section', {}, h('h3', {}, 'Labels'), labels(c)),
    h('section', {}, h('h3', {}, 'Visitor context'),
      context.length
        ? h('dl', { class: 'kv' }, ...context.flatMap(([k, label]) => [h('dt', {}, label), h('dd', {}, link(String(meta[k])))]))
        : h('p', { class: 'hint' }, 'No page or campaign information for this conversation.')));
}

function link(value) {
  return /^https?:\/\//.test(value) ? h('a', { href: value, target: '_blank', rel: 'noopener noreferrer' }, value) : value;
}

function labels(c) {
  const chips = h('div', { class: 'tags', style: 'display:flex;gap:6px;flex-wrap:wrap' });
  const colors = new Map(state.labels.map((l) => [l.name, l.color]));
  for (const label of c.labels || []) {
    chips.append(h('span', { class: 'chip' }, h('span', { class: 'swatch', style: `background:${colors.get(label) || '#9ca3af'}` }), label,
      can('member') ? h('button', { 'aria-label': `Remove label ${label}`, onclick: () => change(c.id, 'DELETE', label) }, '×') : null));
  }
  if (!(c.labels || []).length) chips.append(h('span', { class: 'hint' }, 'No labels'));
  if (!can('member')) return chips;
  const available = state.labels.filter((l) => !(c.labels || []).includes(l.name));
  if (!available.length) return chips;
  const select = h('select', { 'aria-label': 'Add a label' }, h('option', { value: '' }, 'Add a label…'),
    ...available.map((l) => h('option', { value: l.name }, l.name)));
  select.addEventListener('change', () => select.value && change(c.id, 'POST', select.value));
  return h('div', {}, chips, h('div', { class: 'label-add' }, select));
}

async function change(id, method, label) {
  try {
    const answer = method === 'POST'
      ? await api('POST', `/api/conversations/${id}/labels`, { label })
      : await api('DELETE', `/api/conversations/${id}/labels/${encodeURIComponent(label)}`);
    upsertConversation({ id, labels: answer.labels });
  } catch (err) {
    toast(err.message, { error: true });
  }
}
