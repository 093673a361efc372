// Sign in (with the second step when the member has two-factor) and accepting an invitation.
import { api } from '../api.js';
import { h, replace } from '../dom.js';

function card(title, lead, ...body) {
  return h('main', { class: 'auth', id: 'main' },
    h('div', { class: 'auth-card' },
      h('span', { class: 'logo' }, h('img', { src: 'icon.svg', alt: '' }), 'Switchboard'),
      h('h1', {}, title),
      h('p', {}, lead),
      ...body));
}

function field(label, input, hint) {
  return h('label', { class: 'field' }, h('span', {}, label), input, hint ? h('span', { class: 'hint' }, hint) : null);
}

/** The sign-in page; `done(loginAnswer)` runs once a session is open. `notice` explains why we are here. */
export function renderLogin(root, done, notice) {
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true, autofocus: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const code = h('input', { name: 'totp', inputmode: 'numeric', autocomplete: 'one-time-code', placeholder: '123 456' });
  const codeField = field('Authentication code', code, 'From your authenticator app, or a recovery code.');
  codeField.hidden = true;
  const error = h('p', { class: 'error-text', role: 'alert' }, notice || '');
  const submit = h('button', { class: 'btn primary', type: 'submit' }, 'Sign in');
  const form = h('form', { 'aria-label': 'Sign in', novalidate: false }, field('Email', email), field('Password', password), codeField, error, submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.textContent = '';
    const body = { email: email.value.trim(), password: password.value };
    const second = code.value.replace(/\s+/g, '');
    if (!codeField.hidden && second) {
      if (/^\d{6}$/.test(second)) body.totp_code = second;
      else body.recovery_code = code.value.trim();
    }
    try {
      done(await api('POST', '/api/auth/login', body));
    } catch (err) {
      if (err.code === 'two_factor_required') {
        codeField.hidden = false;
        code.focus();
        error.textContent = 'Enter the code from your authenticator app.';
      } else if (err.code === 'invalid_two_factor') {
        error.textContent = 'That code is wrong or expired. Try the next one.';
        code.select();
      } else error.textContent = err.status === 401 ? 'Wrong email or password.' : err.message;
    } finally {
      submit.disabled = false;
    }
  });
  replace(root, card('Sign in', 'Welcome back. Sign in to answer your customers.', form));
}

/** Accepting an invitation: choose a name and password; the answer is a login. */
export function renderAccept(root, token, done) {
  const name = h('input', { name: 'name', autocomplete: 'name', maxlength: 100 });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'new-password', minlength: 8, required: true });
  const error = h('p', { class: 'error-text', role: 'alert' });
  const submit = h('button', { class: 'btn primary', type: 'submit' }, 'Join the team');
  const form = h('form', { 'aria-label': 'Accept the invitation' },
    field('Your name', name), field('Choose a password', password, 'At least 8 characters.'), error, submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      const body = { token, password: password.value };
      if (name.value.trim()) body.name = name.value.trim();
      done(await api('POST', '/api/team/invitations/accept', body));
    } catch (err) {
      error.textContent = err.status === 404 ? 'This invitation link is no longer valid. Ask for a new one.' : err.message;
    } finally {
      submit.disabled = false;
    }
  });
  replace(root, card('Join your team', 'You were invited to Switchboard. Set a password to start.', form));
}
