// The inbox: filters, search and the live conversation list (with infinite scroll) beside the open
// conversation and its details.
import { h, icon, replace } from '../dom.js';
import { avatar, channelIcon, memberName, preview, shortTime, visitorName } from '../format.js';
import { hasConnected, loadList, markRead } from '../live.js';
import { state, subscribe } from '../state.js';
import { renderThread } from './thread.js';
import { renderDetails } from './details.js';

/** Builds the inbox into `container`; returns {select(id), dispose()}. */
export function renderInbox(container) {
  const disposers = [];
  const on = (topic, fn) => disposers.push(subscribe(topic, fn));
  const list = h('ul', { class: 'conv-list', role: 'list', 'aria-label': 'Conversations', 'aria-busy': 'false' });
  const end = h('div', { class: 'list-end', 'aria-hidden': 'true' });
  const scroller = h('div', { style: 'overflow-y:auto;flex:1;min-height:0', tabindex: '-1' }, list, end);
  const listPane = h('section', { class: 'pane list-pane', 'aria-label': 'Conversation list' }, filters(on), scroller);
  const threadPane = h('section', { class: 'pane thread-pane', 'aria-label': 'Conversation' });
  const detailsPane = h('aside', { class: 'pane details-pane', 'aria-label': 'Conversation details' });
  const layout = h('div', { class: 'inbox' }, listPane, threadPane, detailsPane);
  replace(container, layout);
  layout.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && layout.classList.contains('show-details')) layout.classList.remove('show-details');
  });

  const draw = () => drawList(list, end);
  on('conversations', draw);
  on('members', draw);
  on('labels', draw);
  draw();
  // Before the stream is up, its first recovery notice loads the list (one load, never two racing).
  if (state.order.length === 0 && hasConnected()) loadList();

  // Infinite scroll: the next page when the end of the list comes into view.
  const sentinel = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && state.nextCursor && !state.listLoading) loadList({ more: true });
  }, { root: scroller, rootMargin: '200px' });
  sentinel.observe(end);
  // A fresh first page can leave the end of the list in view, which the observer does not report again:
  // observing anew after each load asks it where the end is now.
  let wasLoading = false;
  on('conversations', () => {
    if (wasLoading && !state.listLoading) {
      sentinel.unobserve(end);
      sentinel.observe(end);
    }
    wasLoading = !!state.listLoading;
  });

  let current = null;
  const onVisible = () => {
    if (document.visibilityState === 'visible' && state.selected) markRead(state.selected);
  };
  document.addEventListener('visibilitychange', onVisible);

  return {
    select(id) {
      if (current?.id === id) return;
      current?.dispose();
      state.selected = id;
      layout.classList.toggle('has-thread', !!id);
      layout.classList.remove('show-details');
      draw();
      if (!id) {
        current = null;
        replace(threadPane, h('div', { class: 'empty' }, icon('inbox'), h('p', {}, 'Pick a conversation from the list.')));
        replace(detailsPane);
        return;
      }
      const thread = renderThread(threadPane, id, { toggleDetails: () => layout.classList.toggle('show-details') });
      const details = renderDetails(detailsPane, id, { close: () => layout.classList.remove('show-details') });
      current = { id, dispose: () => { thread.dispose(); details.dispose(); } };
      markRead(id);
    },
    dispose() {
      current?.dispose();
      disposers.forEach((d) => d());
      sentinel.disconnect();
      document.removeEventListener('visibilitychange', onVisible);
    },
  };
}

function filters(on) {
  const f = state.filters;
  const apply = () => {
    state.nextCursor = null;
    loadList();
  };
  const statusTabs = h('div', { class: 'tabs', role: 'group', 'aria-label': 'Status' });
  const drawTabs = () => replace(statusTabs, ...[['open', 'Open'], ['closed', 'Closed']].map(([value, label]) =>
    h('button', { type: 'button', 'aria-pressed': String(f.status === value), onclick: () => { f.status = value; drawTabs(); apply(); } }, label)));
  drawTabs();
  const assignee = h('select', { 'aria-label': 'Assignee' });
  const label = h('select', { 'aria-label': 'Label' });
  const channel = h('select', { 'aria-label': 'Channel' },
    h('option', { value: '' }, 'All channels'), h('option', { value: 'widget' }, 'Website'),
    h('option', { value: 'messenger' }, 'Messenger'), h('option', { value: 'whatsapp' }, 'WhatsApp'));
  const unread = h('label', { class: 'check', style: 'margin:0;font-size:13px' },
    h('input', { type: 'checkbox', onchange: (e) => { f.unread = e.target.checked; apply(); } }), 'Unread only');
  const fill = () => {
    const members = [...state.members.values()].filter((m) => m.status !== 'deactivated' && m.id !== state.me.id);
    replace(assignee, h('option', { value: '' }, 'Everyone'), h('option', { value: 'me' }, 'Assigned to me'),
      h('option', { value: 'unassigned' }, 'Unassigned'), ...members.map((m) => h('option', { value: m.id }, memberName(m))));
    assignee.value = f.assignee;
    replace(label, h('option', { value: '' }, 'All labels'), ...state.labels.map((l) => h('option', { value: l.name }, l.name)));
    label.value = f.label;
  };
  fill();
  on('members', fill);
  on('labels', fill);
  assignee.addEventListener('change', () => { f.assignee = assignee.value; apply(); });
  label.addEventListener('change', () => { f.label = label.value; apply(); });
  channel.addEventListener('change', () => { f.channel = channel.value; apply(); });
  const search = h('input', { type: 'search', placeholder: 'Search messages', 'aria-label': 'Search messages', maxlength: 200 });
  let timer = null;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => { f.q = /[\p{L}\p{N}]/u.test(search.value) ? search.value.trim() : ''; apply(); }, 250);
  });
  return h('div', { class: 'filters' },
    h('div', { class: 'search' }, icon('search'), search), statusTabs,
    h('div', { class: 'filter-row' }, assignee, label), h('div', { class: 'filter-row', style: 'align-items:center' }, channel, unread));
}

// Rows by conversation id. A redraw updates a row's link in place and moves only the rows that moved: a
// click whose mousedown and mouseup straddle a live update (a new message, a new conversation above) still
// lands, because the browser only clicks when both hit the same element.
const rows = new Map();

function drawList(list, end) {
  list.setAttribute('aria-busy', String(!!state.listLoading));
  const items = state.order.map((id) => state.conversations.get(id)).filter(Boolean);
  if (items.length === 0) {
    rows.clear();
    replace(list, state.listLoading ? null : h('li', { class: 'empty' }, icon('inbox'),
      h('p', {}, state.listError || (state.filters.q ? 'No conversation matches.' : 'No conversations here. New chats show up live.'))));
  } else {
    const colors = new Map(state.labels.map((l) => [l.name, l.color]));
    const nodes = items.map((c) => row(c, colors));
    nodes.forEach((node, i) => {
      if (list.children[i] !== node) list.insertBefore(node, list.children[i] || null);
    });
    while (list.children.length > nodes.length) list.lastChild.remove();
    const shown = new Set(items.map((c) => c.id));
    for (const id of rows.keys()) if (!shown.has(id)) rows.delete(id);
  }
  end.textContent = state.listLoading ? 'Loading…' : state.nextCursor ? '' : items.length > 8 ? 'That is everything.' : '';
}

/** The list item of one conversation: the cached one, its link redrawn only when what it shows changed. */
function row(c, colors) {
  const assignee = c.assignee_id ? state.members.get(c.assignee_id) : null;
  const key = JSON.stringify([c, state.selected === c.id, assignee && memberName(assignee), (c.labels || []).map((l) => colors.get(l))]);
  let cached = rows.get(c.id);
  if (!cached) {
    const link = h('a', { class: 'conv' });
    cached = { li: h('li', {}, link), link, key: null };
    rows.set(c.id, cached);
  }
  if (cached.key !== key) {
    fill(cached.link, c, assignee, colors);
    cached.key = key;
  }
  return cached.li;
}

function fill(link, c, assignee, colors) {
  const name = visitorName(c);
  const unread = c.unread_count > 0;
  link.className = `conv${unread ? ' unread' : ''}`;
  link.href = `#/inbox/${c.id}`;
  if (state.selected === c.id) link.setAttribute('aria-current', 'true');
  else link.removeAttribute('aria-current');
  Object.assign(link.dataset, { id: c.id, assignee: c.assignee_id || '', status: c.status });
  link.setAttribute('aria-label', `${name}${unread ? `, ${c.unread_count} unread` : ''}, ${preview(c.last_message)}`);
  replace(link,
    avatar(name, c.contact_id || c.id),
    h('div', { style: 'min-width:0' },
      h('div', { class: 'who' }, channelIcon(c.channel), h('span', {}, name)),
      h('div', { class: 'preview' }, preview(c.last_message)),
      h('div', { class: 'tags' },
        c.status === 'closed' ? h('span', { class: 'chip closed' }, 'Closed') : null,
        c.waiting ? h('span', { class: 'chip waiting' }, 'Waiting') : null,
        ...(c.labels || []).map((l) => h('span', { class: 'chip' }, h('span', { class: 'swatch', style: `background:${colors.get(l) || '#9ca3af'}` }), l)),
        assignee ? h('span', { class: 'chip', dataset: { role: 'assignee' } }, avatar(memberName(assignee), assignee.id, { small: true }), memberName(assignee)) : null)),
    h('div', { class: 'meta' }, h('time', { datetime: new Date(c.updated_at || 0).toISOString() }, shortTime(c.updated_at)),
      unread ? h('span', { class: 'unread-count' }, String(c.unread_count)) : null));
}
