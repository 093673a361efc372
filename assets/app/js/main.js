// Boot and hash routing: #/login, #/accept?token=…, #/inbox[/<conversation id>], #/settings[/<section>].
// The server serves one page; the hash picks the view, so no server-side fallback is needed.
import { api, onSessionEnded } from './api.js';
import { state, changed, resetSubscriptions, subscribe } from './state.js';
import { renderLogin, renderAccept } from './views/login.js';
import { renderShell } from './views/shell.js';
import { renderInbox } from './views/list.js';
import { renderSettings } from './views/settings.js';
import { liveSocket, startLive, stopLive } from './live.js';

const root = document.getElementById('root');
let shell = null;
let page = null;

function parseHash() {
  const [path, search = ''] = location.hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter(Boolean);
  return { parts, params: new URLSearchParams(search) };
}

/** Opens a conversation (from a notification). */
export function openConversation(id) {
  location.hash = `#/inbox/${id}`;
}

async function boot() {
  const { parts, params } = parseHash();
  if (parts[0] === 'accept' && params.get('token')) {
    return renderAccept(root, params.get('token'), signedIn);
  }
  try {
    const me = await api('GET', '/api/auth/me');
    start(me.user);
  } catch (err) {
    showLogin(err.status === 0 ? 'The server cannot be reached. Try again in a moment.' : '');
  }
}

let returnTo = null;

function showLogin(notice) {
  stopLive();
  resetSubscriptions();
  // Where the member was goes back after signing in; what the old session loaded is dropped.
  if (/^#\/(inbox|settings)/.test(location.hash)) returnTo = location.hash;
  page?.view?.dispose?.();
  shell = null;
  page = null;
  state.me = null;
  state.conversations.clear();
  state.threads.clear();
  state.order = [];
  state.selected = null;
  if (!location.hash.startsWith('#/login')) history.replaceState(null, '', '#/login');
  renderLogin(root, signedIn, notice);
}

function signedIn(answer) {
  if (answer.two_factor_setup_required) {
    // The policy requires two-factor and this member has none yet: only the setup is open to them.
    renderSettings(root, { setupOnly: true, done: () => location.reload() });
    return;
  }
  history.replaceState(null, '', returnTo || '#/inbox');
  returnTo = null;
  start(answer.user);
}

function start(user) {
  state.me = user;
  changed('me');
  shell = renderShell(root, { logout });
  startLive(openConversation);
  subscribe('connection', () => {
    if (state.connection !== 'revoked') return;
    // The socket's session ended. Turning on two-factor replaces it with a new one (a new cookie): then the
    // stream simply resumes. Otherwise `me` answers 401 and the session-ended handler shows the sign-in form.
    // The close can arrive before the answer that carries the new cookie: wait for that answer first.
    const resume = () => liveSocket()?.start();
    Promise.resolve(state.sessionSwap)
      .catch(() => {})
      .then(() => api('GET', '/api/auth/me'))
      .then(resume, (err) => err.status !== 401 && resume());
  });
  route();
}

function route() {
  if (!shell) return;
  const { parts } = parseHash();
  const section = parts[0] === 'settings' ? 'settings' : 'inbox';
  if (parts[0] !== 'inbox' && parts[0] !== 'settings') {
    history.replaceState(null, '', '#/inbox');
  }
  if (section === 'inbox') {
    if (page?.kind !== 'inbox') {
      page?.view?.dispose();
      page = { kind: 'inbox', view: renderInbox(shell.content) };
    }
    page.view.select(parts[1] || null);
  } else {
    page?.view?.dispose();
    page = { kind: 'settings', view: null };
    page.view = renderSettings(shell.content, { section: parts[1] || null });
  }
  shell.setPage(section);
}

async function logout() {
  await api('POST', '/api/auth/logout').catch(() => {});
  // Signing out on purpose leaves nothing of this member in the tab: queued replies and drafts go.
  for (const key of Object.keys(sessionStorage)) if (key.startsWith('sb.')) sessionStorage.removeItem(key);
  location.hash = '#/login';
  showLogin('You are signed out.');
}

onSessionEnded(() => {
  if (state.me) showLogin('Your session has ended. Sign in again: your unsent text is kept.');
});

window.addEventListener('hashchange', () => {
  const { parts } = parseHash();
  if (!state.me) {
    if (parts[0] === 'accept') boot();
    return;
  }
  route();
});

// The skip link moves focus without touching the hash (the hash is the route).
document.querySelector('.skip')?.addEventListener('click', (event) => {
  event.preventDefault();
  const target = document.getElementById('main');
  if (!target) return;
  target.setAttribute('tabindex', '-1');
  target.focus();
});

boot();
