// The frame around every signed-in page: the navigation rail, the live header (metrics, availability,
// notifications, account) and the reconnect banner.
import { api } from '../api.js';
import { h, icon, replace, toast } from '../dom.js';
import { avatar, duration, memberName } from '../format.js';
import { canAsk, requestPermission } from '../notify.js';
import { state, subscribe } from '../state.js';

/** Builds the shell into `root`; returns the element the routed page goes into and a function to mark the nav. */
export function renderShell(root, { logout }) {
  const inboxLink = h('a', { href: '#/inbox', 'aria-label': 'Inbox', title: 'Inbox' }, icon('inbox'));
  const unread = h('span', { class: 'count', hidden: true });
  inboxLink.append(unread);
  const settingsLink = h('a', { href: '#/settings', 'aria-label': 'Settings', title: 'Settings' }, icon('settings'));
  const rail = h('nav', { class: 'rail', 'aria-label': 'Main' },
    h('img', { src: 'icon.svg', alt: 'Switchboard' }), inboxLink, settingsLink, h('span', { class: 'spacer' }),
    h('a', { href: '#/logout', 'aria-label': 'Sign out', title: 'Sign out', onclick: (e) => { e.preventDefault(); logout(); } }, icon('logout')));
  const title = h('h1', {}, 'Inbox');
  const banner = h('div', { class: 'banner', role: 'status', hidden: true });
  const content = h('div', { class: 'content', id: 'main', style: 'min-height:0' });
  const top = h('header', { class: 'topbar' }, title, metrics(), notificationsButton(), me());
  replace(root, h('div', { class: 'app' }, rail, h('div', { class: 'main' }, top, banner, content)));

  let wasDown = false;
  subscribe('connection', () => {
    if (state.connection === 'down' || state.connection === 'connecting') {
      if (state.connection === 'connecting' && !wasDown) return;
      wasDown = true;
      banner.className = 'banner';
      replace(banner, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Connection lost. Reconnecting… Messages you send now go out when it is back.');
      banner.hidden = false;
      banner.dataset.state = 'down';
    } else if (state.connection === 'open' && wasDown) {
      wasDown = false;
      banner.className = 'banner ok';
      replace(banner, icon('check'), 'Back online. Everything is up to date.');
      banner.dataset.state = 'recovered';
      setTimeout(() => { if (banner.dataset.state === 'recovered') banner.hidden = true; }, 4000);
    }
  });
  subscribe('conversations', () => {
    const count = [...state.conversations.values()].filter((c) => c.status === 'open' && c.unread_count > 0).length;
    unread.hidden = count === 0;
    unread.textContent = count > 99 ? '99+' : String(count);
    inboxLink.setAttribute('aria-label', count ? `Inbox, ${count} unread` : 'Inbox');
  });
  return {
    content,
    setPage(page) {
      title.textContent = page === 'settings' ? 'Settings' : 'Inbox';
      inboxLink.toggleAttribute('aria-current', page === 'inbox');
      settingsLink.toggleAttribute('aria-current', page === 'settings');
      if (page === 'inbox') inboxLink.setAttribute('aria-current', 'page');
      if (page === 'settings') settingsLink.setAttribute('aria-current', 'page');
    },
  };
}

function metrics() {
  const box = h('div', { class: 'metrics', role: 'group', 'aria-label': 'Today' });
  const show = () => {
    const m = state.metrics || {};
    const item = (value, label) => h('div', { class: 'metric' }, h('b', {}, value ?? '—'), h('span', {}, label));
    replace(box,
      item(m.open_conversations, 'Open conversations'),
      item(m.visitors_online, 'Visitors online'),
      item(m.messages_today, 'Messages today'),
      item(m.median_first_response_ms === undefined ? '—' : duration(m.median_first_response_ms), 'Median first reply'),
      item(m.csat_average ? `${m.csat_average.toFixed(1)} ★` : '—', 'CSAT today'));
  };
  show();
  subscribe('metrics', show);
  return box;
}

function notificationsButton() {
  const button = h('button', { class: 'icon-btn', 'aria-label': 'Turn on desktop notifications', title: 'Turn on desktop notifications' }, icon('bell'));
  button.hidden = !canAsk();
  button.addEventListener('click', async () => {
    const answer = await requestPermission();
    button.hidden = !canAsk();
    toast(answer === 'granted' ? 'Desktop notifications are on' : 'Notifications stay in the tab title');
  });
  return button;
}

function me() {
  const select = h('select', { class: 'availability', 'aria-label': 'Your availability' },
    h('option', { value: 'online' }, 'Online'), h('option', { value: 'busy' }, 'Busy'), h('option', { value: 'offline' }, 'Invisible'));
  const who = h('span', { class: 'me' });
  const show = () => {
    const member = state.members.get(state.me.id);
    const chosen = member?.availability || 'online';
    select.value = chosen;
    replace(who, avatar(memberName(member || state.me), state.me.id, { presence: member?.presence || chosen }), select);
    who.title = `${state.me.email} (${state.me.role})`;
  };
  select.addEventListener('change', async () => {
    try {
      const updated = await api('PATCH', '/api/team/me', { availability: select.value });
      state.members.set(updated.id || state.me.id, { ...state.members.get(state.me.id), ...updated });
    } catch (err) {
      toast(`Could not change your availability: ${err.message}`, { error: true });
    }
    show();
  });
  show();
  subscribe('members', show);
  return who;
}
