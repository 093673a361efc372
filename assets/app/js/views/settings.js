// The control panel: one page per section, shown by role (admins and the owner configure the widget,
// keys and integrations; everyone sees the team and the hours, read-only below their role).
import { h, replace } from '../dom.js';
import { can } from '../state.js';
import { widgetSection } from './settings_widget.js';
import { teamSection, hoursSection, cannedSection } from './settings_team.js';
import { keysSection, integrationsSection, apiKeysSection, webhooksSection, securitySection } from './settings_keys.js';

const SECTIONS = [
  { id: 'widget', title: 'Chat widget', role: 'admin', render: widgetSection },
  { id: 'team', title: 'Team', role: 'viewer', render: teamSection },
  { id: 'hours', title: 'Business hours', role: 'viewer', render: hoursSection },
  { id: 'canned', title: 'Canned answers & labels', role: 'viewer', render: cannedSection },
  { id: 'keys', title: 'Product keys', role: 'admin', render: keysSection },
  { id: 'integrations', title: 'Messenger & WhatsApp', role: 'admin', render: integrationsSection },
  { id: 'api-keys', title: 'API keys', role: 'admin', render: apiKeysSection },
  { id: 'webhooks', title: 'Webhooks', role: 'admin', render: webhooksSection },
  { id: 'security', title: 'Your account', role: 'viewer', render: securitySection },
];

/** Renders the settings into `container` at `section` (the first allowed one by default). */
export function renderSettings(container, { section, setupOnly, done } = {}) {
  if (setupOnly) {
    const body = h('main', { class: 'auth', id: 'main' }, h('div', { class: 'auth-card', style: 'width:min(520px,100%)' }));
    replace(container, body);
    securitySection(body.firstChild, { setupOnly: true, done });
    return { dispose() {} };
  }
  const allowed = SECTIONS.filter((s) => can(s.role));
  const current = allowed.find((s) => s.id === section) || allowed[0];
  const nav = h('nav', { 'aria-label': 'Settings' }, ...allowed.map((s) =>
    h('a', { href: `#/settings/${s.id}`, 'aria-current': s === current ? 'page' : null }, s.title)));
  const body = h('div', { class: 'settings-body' });
  replace(container, h('div', { class: 'settings' }, nav, body));
  current.render(body);
  return { dispose() {} };
}
