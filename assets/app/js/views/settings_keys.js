// Admin pages: product keys, Messenger and WhatsApp, API keys, webhook endpoints; and every member's own
// account (password, two-factor). Secrets the server shows once are shown once here, with a copy button.
import { api } from '../api.js';
import { copy, h, icon, replace } from '../dom.js';
import { state } from '../state.js';
import { card, checkbox, failed, field, page, run, table } from './form.js';

const SCOPES = ['conversations:read', 'conversations:write', 'widget:command', 'webhooks:manage', 'usage:read'];
const EVENTS = ['chat_opened', 'chat_closed', 'message_created', 'conversation_assigned', 'delivery_updated', 'csat_received'];

function secretBox(title, secret) {
  return h('div', { class: 'secret', role: 'status' }, h('strong', {}, title), h('pre', { class: 'snippet', style: 'margin:8px 0' }, secret),
    h('button', { class: 'btn small', type: 'button', onclick: () => copy(secret, 'Copied') }, icon('copy'), 'Copy'));
}

const when = (ms) => (ms ? new Date(ms).toLocaleString() : '—');

/** Product keys and the chat embed snippet. */
export async function keysSection(body) {
  let keys;
  try {
    ({ keys } = await api('GET', '/api/products/keys'));
  } catch (err) {
    return failed(body, err);
  }
  const reload = () => keysSection(body);
  const rows = keys.map((k) => [h('span', { class: 'mono' }, k.product_key), k.product, k.status, when(k.created_at),
    k.status === 'active' ? h('button', { class: 'btn small danger', onclick: () => confirm(`Revoke ${k.product_key}? Sites using it stop working.`) &&
      run(() => api('DELETE', `/api/products/keys/${k.product_key}`), 'Key revoked').then(reload) }, 'Revoke') : '']);
  const product = h('select', {}, ...(state.me.products || []).map((p) => h('option', { value: p }, p)));
  const create = h('form', { class: 'inline' }, field('Product', product), h('button', { class: 'btn primary' }, 'Create key'));
  create.addEventListener('submit', (e) => {
    e.preventDefault();
    run(() => api('POST', '/api/products/keys', { product: product.value }), 'Key created').then(reload);
  });
  const chat = keys.find((k) => k.product === 'chatbot' && k.status === 'active');
  const snippet = chat ? `<script src="${location.origin}/widget.js" data-product-key="${chat.product_key}" async></script>` : null;
  page(body, 'Product keys', 'One active key per product your license includes.',
    card('Keys', table(['Key', 'Product', 'Status', 'Created', ''], rows, 'No keys yet.'), create),
    snippet ? card('Chat widget snippet', h('pre', { class: 'snippet' }, snippet),
      h('button', { class: 'btn small', onclick: () => copy(snippet, 'The snippet was copied') }, icon('copy'), 'Copy')) : null);
}

/** Messenger pages and WhatsApp numbers. */
export async function integrationsSection(body) {
  let integrations;
  try {
    ({ integrations } = await api('GET', '/api/integrations'));
  } catch (err) {
    return failed(body, err);
  }
  const reload = () => integrationsSection(body);
  const rows = integrations.map((i) => [i.provider === 'whatsapp' ? 'WhatsApp' : 'Messenger', h('span', { class: 'mono' }, i.account_id), i.status,
    i.provider === 'messenger' ? (i.has_access_token ? 'Own page token' : 'Server token') : '—',
    h('button', { class: 'btn small danger', onclick: () => run(() => api('DELETE', `/api/integrations/${i.id}`), 'Disconnected').then(reload) }, 'Disconnect')]);
  const pageId = h('input', { required: true, inputmode: 'numeric', placeholder: '1234567890' });
  const token = h('input', { type: 'password', autocomplete: 'off', placeholder: 'optional' });
  const messenger = h('form', { class: 'inline' }, field('Facebook page id', pageId), field('Page access token', token), h('button', { class: 'btn primary' }, 'Connect page'));
  messenger.addEventListener('submit', (e) => {
    e.preventDefault();
    const bodyJson = { provider: 'messenger', page_id: pageId.value.trim() };
    if (token.value) bodyJson.page_access_token = token.value;
    run(() => api('POST', '/api/integrations', bodyJson), 'Messenger page connected').then(reload);
  });
  const number = h('input', { required: true, type: 'tel', placeholder: '+14155550100' });
  const whatsapp = h('form', { class: 'inline' }, field('WhatsApp number (E.164)', number), h('button', { class: 'btn primary' }, 'Connect number'));
  whatsapp.addEventListener('submit', (e) => {
    e.preventDefault();
    run(() => api('POST', '/api/integrations', { provider: 'whatsapp', number: number.value.trim() }), 'WhatsApp number connected').then(reload);
  });
  page(body, 'Messenger & WhatsApp', 'Messages from your Facebook page and WhatsApp number land in the same inbox.',
    card('Connected', table(['Channel', 'Account', 'Status', 'Token', ''], rows, 'No channel connected yet.')),
    card('Facebook Messenger', messenger), card('WhatsApp (Twilio)', whatsapp));
}

/** API keys for the tenant's own backend. */
export async function apiKeysSection(body) {
  let keys;
  try {
    ({ api_keys: keys } = await api('GET', '/api/security/api-keys'));
  } catch (err) {
    return failed(body, err);
  }
  const reload = () => apiKeysSection(body);
  const rows = keys.map((k) => [k.name, h('span', { class: 'mono' }, `${k.prefix}…`), k.scopes.join(', '), when(k.last_used_at),
    h('button', { class: 'btn small danger', onclick: () => run(() => api('DELETE', `/api/security/api-keys/${k.id}`), 'Key revoked').then(reload) }, 'Revoke')]);
  const name = h('input', { required: true, maxlength: 100, placeholder: 'CRM sync' });
  const chosen = new Set(['conversations:read']);
  const shown = h('div');
  const create = h('form', {}, field('Name', name),
    h('div', { class: 'grid2' }, ...SCOPES.map((s) => checkbox(s, chosen.has(s), (on) => (on ? chosen.add(s) : chosen.delete(s))))),
    h('button', { class: 'btn primary', style: 'margin-top:8px' }, 'Create API key'));
  create.addEventListener('submit', async (e) => {
    e.preventDefault();
    const answer = await run(() => api('POST', '/api/security/api-keys', { name: name.value.trim(), scopes: [...chosen] }));
    if (!answer) return;
    await apiKeysSection(body);
    replace(body.querySelector('[data-secret]'), secretBox('Your new key. It is shown only now: store it safely.', answer.secret));
  });
  shown.dataset.secret = '';
  page(body, 'API keys', 'Let your own backend call the API, with only the scopes it needs. Send the key as X-API-Key.',
    card('Keys', shown, table(['Name', 'Key', 'Scopes', 'Last used', ''], rows, 'No API keys yet.')), card('New key', create));
}

/** Outgoing webhook endpoints. */
export async function webhooksSection(body) {
  let endpoints;
  try {
    ({ webhook_endpoints: endpoints } = await api('GET', '/api/webhook-endpoints'));
  } catch (err) {
    return failed(body, err);
  }
  const reload = () => webhooksSection(body);
  const rows = endpoints.map((w) => [h('span', { class: 'mono' }, w.url), w.events.join(', '),
    w.enabled ? 'Enabled' : `Disabled${w.disabled_reason ? ` (${w.disabled_reason})` : ''}`,
    h('span', { style: 'display:inline-flex;gap:6px' },
      h('button', { class: 'btn small', onclick: () => run(() => api('POST', `/api/webhook-endpoints/${w.id}/test`), 'Test event sent') }, 'Send test'),
      h('button', { class: 'btn small danger', onclick: () => run(() => api('DELETE', `/api/webhook-endpoints/${w.id}`), 'Endpoint deleted').then(reload) }, 'Delete'))]);
  const url = h('input', { type: 'url', required: true, placeholder: 'https://example.com/hooks/switchboard' });
  const chosen = new Set(['message_created', 'chat_opened']);
  const shown = h('div');
  const create = h('form', {}, field('Endpoint URL', url),
    h('div', { class: 'grid2' }, ...EVENTS.map((ev) => checkbox(ev, chosen.has(ev), (on) => (on ? chosen.add(ev) : chosen.delete(ev))))),
    h('button', { class: 'btn primary', style: 'margin-top:8px' }, 'Add endpoint'));
  create.addEventListener('submit', async (e) => {
    e.preventDefault();
    const answer = await run(() => api('POST', '/api/webhook-endpoints', { url: url.value.trim(), events: [...chosen] }));
    if (!answer) return;
    await webhooksSection(body);
    replace(body.querySelector('[data-secret]'), secretBox('Signing secret, shown only now:', answer.secret));
  });
  shown.dataset.secret = '';
  page(body, 'Webhooks', 'Signed HTTPS calls to your systems when conversations change.',
    card('Endpoints', shown, table(['URL', 'Events', 'State', ''], rows, 'No endpoints yet.')), card('New endpoint', create));
}

/** The signed-in member's password and two-factor; with `setupOnly`, only the two-factor setup. */
export async function securitySection(body, { setupOnly, done } = {}) {
  const me = await api('GET', '/api/auth/me').catch(() => null);
  const twoFactor = me?.session?.two_factor;
  const setup = h('div');
  const start = h('button', { class: 'btn primary', type: 'button' }, 'Set up two-factor');
  start.addEventListener('click', async () => {
    const answer = await run(() => api('POST', '/api/auth/2fa/setup'));
    if (!answer) return;
    start.hidden = true;
    const code = h('input', { inputmode: 'numeric', autocomplete: 'one-time-code', required: true, placeholder: '123456' });
    const confirmForm = h('form', { class: 'inline' }, field('Code from the app', code), h('button', { class: 'btn primary' }, 'Turn on two-factor'));
    confirmForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      // It replaces this page's session: the socket closes (revoked) and must wait for the new cookie.
      const swap = run(() => api('POST', '/api/auth/2fa/enable', { code: code.value.replace(/\s+/g, '') }), 'Two-factor is on');
      state.sessionSwap = swap;
      const enabled = await swap.finally(() => { if (state.sessionSwap === swap) state.sessionSwap = null; });
      if (!enabled) return;
      replace(setup, secretBox('Recovery codes (each works once; keep them somewhere safe):', (enabled.recovery_codes || []).join('\n')),
        done ? h('button', { class: 'btn primary', onclick: done }, 'Continue') : null);
    });
    replace(setup, h('p', {}, 'Add this key to your authenticator app (or open the link on your phone), then enter the code it shows.'),
      h('pre', { class: 'snippet' }, answer.secret), h('p', {}, h('a', { href: answer.otpauth_uri }, 'Open in an authenticator app')), confirmForm);
  });
  const twoFactorCard = card('Two-factor authentication',
    h('p', { class: 'hint' }, twoFactor ? 'This session was opened with a second factor.' : 'Protect your account with a code from an authenticator app.'),
    setup, start);
  if (setupOnly) {
    replace(body, h('h1', {}, 'Set up two-factor'), h('p', {}, 'Your team requires a second factor before you can use Switchboard.'), twoFactorCard);
    return;
  }
  const current = h('input', { type: 'password', autocomplete: 'current-password', required: true });
  const next = h('input', { type: 'password', autocomplete: 'new-password', minlength: 8, required: true });
  const password = h('form', { class: 'inline' }, field('Current password', current), field('New password', next), h('button', { class: 'btn primary' }, 'Change password'));
  password.addEventListener('submit', (e) => {
    e.preventDefault();
    run(() => api('POST', '/api/auth/password', { current_password: current.value, new_password: next.value }), 'Password changed; your other sessions ended');
  });
  page(body, 'Your account', `${state.me.email} · ${state.me.role}`, card('Password', password), twoFactorCard);
}
