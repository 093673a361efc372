// Desktop notifications for what needs an agent (a new conversation, a mention, an assignment to them):
// the Notification API when the member allowed it, otherwise (and always while the tab is hidden) a count
// in the title. The count clears when the tab is looked at again.
import { state, changed } from './state.js';
import { toast } from './dom.js';

const BASE_TITLE = 'Switchboard';
let unseen = 0;

/** Asks for permission once, from a click (browsers refuse it otherwise). */
export async function requestPermission() {
  if (!('Notification' in window)) return 'unsupported';
  if (Notification.permission === 'default') return Notification.requestPermission();
  return Notification.permission;
}

/** Whether notifications can still be switched on with a click. */
export function canAsk() {
  return 'Notification' in window && Notification.permission === 'default';
}

/** Shows one notification of the `notification:new` event. */
export function notify(event, open) {
  const relevant = ['new_conversation', 'mention', 'assigned'].includes(event.kind);
  if (!relevant || (event.recipient && event.recipient !== state.me?.id)) return;
  if (event.kind === 'assigned' && event.recipient === undefined) return;
  const visible = document.visibilityState === 'visible' && document.hasFocus();
  if (!visible) {
    unseen += 1;
    updateTitle();
  }
  if ('Notification' in window && Notification.permission === 'granted' && !visible) {
    const shown = new Notification(event.title || 'Switchboard', { body: event.body || '', tag: `${event.kind}:${event.conversation_id || ''}` });
    shown.onclick = () => {
      window.focus();
      if (event.conversation_id) open(event.conversation_id);
      shown.close();
    };
  } else if (visible && event.kind !== 'new_conversation') {
    toast(`${event.title}${event.body ? ` — ${event.body}` : ''}`);
  }
  state.notifications += 1;
  changed('notifications');
}

/** The title shows unseen notifications and unread conversations: "(3) Switchboard". */
export function updateTitle() {
  const unread = [...state.conversations.values()].filter((c) => c.status === 'open' && c.unread_count > 0).length;
  const count = unseen + unread;
  document.title = count ? `(${count}) ${BASE_TITLE}` : BASE_TITLE;
}

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') {
    unseen = 0;
    updateTitle();
  }
});
