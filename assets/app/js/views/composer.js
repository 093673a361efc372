// The reply box: reply or private note, canned answers after `/`, Enter to send (Shift+Enter for a new
// line). The draft is kept per conversation in sessionStorage, so an expired session or a reload loses
// nothing. Sending goes through the outbox (idempotent, resent after a reconnect).
import { api, query } from '../api.js';
import { h, icon, announce } from '../dom.js';
import { liveSocket } from '../live.js';
import * as outbox from '../outbox.js';

const draftKey = (id) => `sb.draft.${id}`;
const TYPING_IDLE_MS = 3000;

/** A composer for conversation `id`. */
export function renderComposer(id) {
  let note = sessionStorage.getItem(`${draftKey(id)}.note`) === '1';
  const area = h('textarea', { rows: 2, 'aria-label': 'Reply', maxlength: 4000, placeholder: '' });
  area.value = sessionStorage.getItem(draftKey(id)) || '';
  const reply = h('button', { type: 'button' }, 'Reply');
  const noteButton = h('button', { type: 'button' }, 'Private note');
  const send = h('button', { class: 'btn primary', type: 'submit', 'aria-label': 'Send' }, icon('send'), h('span', {}, 'Send'));
  const menu = h('ul', { class: 'canned', role: 'listbox', id: `canned-${id}`, 'aria-label': 'Canned answers', hidden: true });
  const tip = h('div', { class: 'tip' });
  const form = h('form', { class: 'composer', 'aria-label': 'Composer' },
    menu, h('div', { class: 'mode', role: 'group', 'aria-label': 'Message kind' }, reply, noteButton),
    h('div', { class: 'row' }, area, send), tip);
  area.setAttribute('aria-controls', menu.id);
  area.setAttribute('aria-autocomplete', 'list');

  const setMode = (isNote) => {
    note = isNote;
    sessionStorage.setItem(`${draftKey(id)}.note`, note ? '1' : '0');
    form.classList.toggle('note-mode', note);
    reply.setAttribute('aria-pressed', String(!note));
    noteButton.setAttribute('aria-pressed', String(note));
    area.placeholder = note ? 'Write a private note: only your team sees it. @name mentions a teammate.' : 'Write a reply… type / for canned answers';
    area.setAttribute('aria-label', note ? 'Private note' : 'Reply');
    tip.textContent = note ? 'Notes are never sent to the customer.' : 'Enter to send · Shift+Enter for a new line · / for canned answers';
  };
  reply.addEventListener('click', () => { setMode(false); area.focus(); });
  noteButton.addEventListener('click', () => { setMode(true); area.focus(); });
  setMode(note);

  // Typing: told when it starts, and when it stops (idle or sent).
  let typingSent = false;
  let idle = null;
  const typing = (on) => {
    if (note || typingSent === on) return;
    typingSent = on;
    liveSocket()?.send({ type: 'typing', conversation_id: id, is_typing: on });
  };

  // Canned answers: `/code` at the start of a word opens the list.
  let answers = [];
  let active = 0;
  let lookup = 0;
  const slashWord = () => {
    const before = area.value.slice(0, area.selectionStart);
    const match = /(^|\s)\/([a-z0-9_-]*)$/.exec(before);
    return match ? { prefix: match[2], start: before.length - match[2].length - 1 } : null;
  };
  const closeMenu = () => {
    menu.hidden = true;
    answers = [];
    area.removeAttribute('aria-activedescendant');
    area.setAttribute('aria-expanded', 'false');
  };
  const drawMenu = () => {
    menu.replaceChildren(...answers.map((a, i) => h('li', {
      role: 'option', id: `canned-${id}-${i}`, 'aria-selected': String(i === active), dataset: { code: a.short_code },
      onmousedown: (e) => { e.preventDefault(); pick(i); },
    }, h('b', {}, `/${a.short_code}`), h('span', {}, a.content.length > 90 ? `${a.content.slice(0, 90)}…` : a.content))));
    menu.hidden = answers.length === 0;
    area.setAttribute('aria-expanded', String(!menu.hidden));
    if (!menu.hidden) area.setAttribute('aria-activedescendant', `canned-${id}-${active}`);
  };
  const pick = (i) => {
    const word = slashWord();
    const answer = answers[i];
    if (!word || !answer) return closeMenu();
    area.value = area.value.slice(0, word.start) + answer.content + area.value.slice(area.selectionStart);
    const at = word.start + answer.content.length;
    area.setSelectionRange(at, at);
    closeMenu();
    saveDraft();
    announce(`Inserted /${answer.short_code}`);
  };
  const findAnswers = async () => {
    const word = slashWord();
    if (!word) return closeMenu();
    const mine = ++lookup;
    const found = await api('GET', `/api/canned-answers${query({ q: word.prefix })}`).catch(() => null);
    if (mine !== lookup) return;
    answers = found?.canned_answers || found?.answers || [];
    active = 0;
    drawMenu();
  };

  const saveDraft = () => {
    if (area.value) sessionStorage.setItem(draftKey(id), area.value);
    else sessionStorage.removeItem(draftKey(id));
    area.style.height = 'auto';
    area.style.height = `${Math.min(area.scrollHeight + 2, 180)}px`;
  };
  area.addEventListener('input', () => {
    saveDraft();
    findAnswers();
    typing(area.value.length > 0);
    clearTimeout(idle);
    idle = setTimeout(() => typing(false), TYPING_IDLE_MS);
  });
  area.addEventListener('keydown', (e) => {
    if (!menu.hidden && answers.length) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        active = (active + (e.key === 'ArrowDown' ? 1 : answers.length - 1)) % answers.length;
        return drawMenu();
      }
      if (e.key === 'Enter' || e.key === 'Tab') {
        e.preventDefault();
        return pick(active);
      }
      if (e.key === 'Escape') return closeMenu();
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  area.addEventListener('blur', () => setTimeout(closeMenu, 150));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = area.value.trim();
    if (!text) return;
    outbox.send(id, text, note);
    area.value = '';
    saveDraft();
    typing(false);
    closeMenu();
    area.focus();
  });
  setTimeout(saveDraft);
  return form;
}
