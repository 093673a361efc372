// Display formats: names, avatars, times, channels, delivery states.
import { h, icon } from './dom.js';

const COLORS = ['#4338ca', '#0f766e', '#b45309', '#be185d', '#1d4ed8', '#6d28d9', '#047857', '#9f1239'];

/** A stable colour for an id. */
export function colorFor(id = '') {
  let hash = 0;
  for (const c of id) hash = (hash * 31 + c.charCodeAt(0)) | 0;
  return COLORS[Math.abs(hash) % COLORS.length];
}

/** What to call a visitor: the contact id shortened, or the channel's sender. */
export function visitorName(conversation) {
  const meta = conversation?.metadata || {};
  if (meta.name) return String(meta.name);
  if (meta.email) return String(meta.email);
  const id = conversation?.contact_id || conversation?.id || '';
  const channel = conversation?.channel;
  if (channel === 'whatsapp' || channel === 'messenger') return id.replace(/^whatsapp:/, '');
  return `Visitor ${id.replace(/[^0-9a-z]/gi, '').slice(0, 6).toUpperCase()}`;
}

/** A member's display name. */
export function memberName(member) {
  if (!member) return 'Someone';
  return member.name || member.email.split('@')[0];
}

/** A round avatar with initials, and a presence dot when `presence` is given. */
export function avatar(name, id, { presence, small } = {}) {
  const initials = /^\+?\d/.test(name)
    ? name.replace(/\D/g, '').slice(-2)
    : name.replace(/^Visitor /, 'V ').split(/[\s@._-]+/).filter(Boolean).slice(0, 2).map((w) => w[0]).join('');
  return h('span', { class: `avatar${small ? ' small' : ''}`, style: `background:${colorFor(id)}`, 'aria-hidden': 'true' },
    initials || '?', presence ? h('span', { class: `dot ${presence}` }) : null);
}

/** "now", "5m", "3h", "Tue", "12 Mar". */
export function shortTime(ms) {
  if (!ms) return '';
  const diff = Date.now() - ms;
  if (diff < 60_000) return 'now';
  if (diff < 3_600_000) return `${Math.floor(diff / 60_000)}m`;
  if (diff < 86_400_000) return `${Math.floor(diff / 3_600_000)}h`;
  const date = new Date(ms);
  if (diff < 6 * 86_400_000) return date.toLocaleDateString(undefined, { weekday: 'short' });
  return date.toLocaleDateString(undefined, { day: 'numeric', month: 'short' });
}

/** "14:05". */
export function clock(ms) {
  return new Date(ms).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

/** "Today", "Yesterday", "Mon 3 March". */
export function dayLabel(ms) {
  const date = new Date(ms);
  const today = new Date();
  const yesterday = new Date(Date.now() - 86_400_000);
  if (date.toDateString() === today.toDateString()) return 'Today';
  if (date.toDateString() === yesterday.toDateString()) return 'Yesterday';
  return date.toLocaleDateString(undefined, { weekday: 'short', day: 'numeric', month: 'long' });
}

/** "2m 10s", "1h 5m" for a duration in ms. */
export function duration(ms) {
  if (ms === null || ms === undefined) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

const CHANNELS = { widget: 'Website chat', messenger: 'Messenger', whatsapp: 'WhatsApp' };

/** The channel's icon with its name for assistive technology. */
export function channelIcon(channel) {
  return icon(channel in CHANNELS ? channel : 'widget', { label: CHANNELS[channel] || channel, cls: 'channel' });
}

/** The channel's name. */
export function channelName(channel) {
  return CHANNELS[channel] || channel;
}

/** A preview line for a message. */
export function preview(message) {
  if (!message) return 'No messages yet';
  const prefix = message.kind === 'note' ? 'Note: ' : message.sender === 'agent' ? 'Team: ' : '';
  return prefix + (message.kind === 'attachment' ? 'Attachment' : message.text);
}
