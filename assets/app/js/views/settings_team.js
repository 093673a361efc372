// Team pages: members and invitations, assignment settings, business hours, canned answers and labels.
// Everyone may look; changing needs the role the server checks (the controls follow it).
import { api } from '../api.js';
import { copy, h, icon, replace } from '../dom.js';
import { memberName } from '../format.js';
import { can, state } from '../state.js';
import { card, checkbox, failed, field, page, run, table } from './form.js';

const ROLES = ['viewer', 'member', 'manager', 'admin'];
const RANK = { viewer: 0, member: 1, manager: 2, admin: 3, owner: 4 };

/** Members, invitations and assignment settings. */
export async function teamSection(body) {
  let members, invitations, settings;
  try {
    [members, invitations, settings] = await Promise.all([
      api('GET', '/api/team/members'),
      can('admin') ? api('GET', '/api/team/invitations') : { invitations: [] },
      api('GET', '/api/team/settings'),
    ]);
  } catch (err) {
    return failed(body, err);
  }
  const reload = () => teamSection(body);
  const myRank = RANK[state.me.role];
  const rows = members.members.map((m) => {
    const editable = can('admin') && m.id !== state.me.id && RANK[m.role] < myRank && m.status === 'active';
    const role = editable
      ? h('select', { 'aria-label': `Role of ${m.email}`, onchange: (e) => run(() => api('PATCH', `/api/team/members/${m.id}`, { role: e.target.value }), 'Role changed').then(reload) },
        ...ROLES.filter((r) => RANK[r] < myRank).map((r) => h('option', { value: r, selected: r === m.role }, r)))
      : m.role;
    return [
      h('span', {}, h('span', { class: `presence-dot ${m.presence}`, style: 'position:static;display:inline-block;margin-right:8px', 'aria-hidden': 'true' }), memberName(m)),
      m.email, role, m.status === 'active' ? m.presence : 'deactivated',
      editable ? h('button', { class: 'btn small danger', onclick: () => confirm(`Deactivate ${m.email}? Their conversations return to the queue.`) &&
        run(() => api('DELETE', `/api/team/members/${m.id}`), 'Member deactivated').then(reload) }, 'Deactivate') : '',
    ];
  });
  const inviteEmail = h('input', { type: 'email', required: true, placeholder: 'teammate@company.com' });
  const inviteRole = h('select', {}, ...ROLES.filter((r) => RANK[r] < myRank).map((r) => h('option', { value: r, selected: r === 'member' }, r)));
  const link = h('div');
  const invite = h('form', { class: 'inline' }, field('Email', inviteEmail), field('Role', inviteRole), h('button', { class: 'btn primary' }, 'Invite'));
  invite.addEventListener('submit', async (e) => {
    e.preventDefault();
    const answer = await run(() => api('POST', '/api/team/invitations', { email: inviteEmail.value.trim(), role: inviteRole.value }));
    if (!answer) return;
    await teamSection(body);
    const box = body.querySelector('[data-invite-link]');
    if (box) replace(box, h('div', { class: 'secret' }, h('strong', {}, 'Send this link to your teammate (valid 7 days):'),
      h('pre', { class: 'snippet', style: 'margin:8px 0' }, answer.accept_url),
      h('button', { class: 'btn small', type: 'button', onclick: () => copy(answer.accept_url, 'The link was copied') }, icon('copy'), 'Copy link')));
  });
  link.dataset.inviteLink = '';
  const pending = invitations.invitations.map((i) => [i.email, i.role, new Date(i.expires_at).toLocaleDateString(),
    h('button', { class: 'btn small danger', onclick: () => run(() => api('DELETE', `/api/team/invitations/${i.id}`), 'Invitation revoked').then(reload) }, 'Revoke')]);
  page(body, 'Team', `${members.members.filter((m) => m.status === 'active').length} of ${members.member_limit ?? '∞'} seats used.`,
    card('Members', table(['Name', 'Email', 'Role', 'Status', ''], rows)),
    can('admin') ? card('Invite a teammate', invite, link, table(['Email', 'Role', 'Expires', ''], pending, 'No pending invitations.')) : null,
    assignmentCard(settings));
}

function assignmentCard(settings) {
  const mode = h('select', { disabled: !can('admin') },
    h('option', { value: 'off' }, 'Off: conversations wait in the queue'), h('option', { value: 'round_robin' }, 'Round robin'),
    h('option', { value: 'least_open' }, 'Least busy first'));
  mode.value = settings.auto_assignment;
  const waiting = h('input', { type: 'number', min: 0, max: 1440, value: settings.waiting_after_minutes, disabled: !can('admin') });
  const form = h('form', { class: 'inline' }, field('Automatic assignment', mode), field('Flag as waiting after the assignee is offline (minutes)', waiting),
    can('admin') ? h('button', { class: 'btn primary' }, 'Save') : null);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    run(() => api('PUT', '/api/team/settings', { auto_assignment: mode.value, waiting_after_minutes: Number(waiting.value) || 0 }), 'Assignment settings saved');
  });
  return card('Assignment', form);
}

const DAYS = [['mon', 'Monday'], ['tue', 'Tuesday'], ['wed', 'Wednesday'], ['thu', 'Thursday'], ['fri', 'Friday'], ['sat', 'Saturday'], ['sun', 'Sunday']];

/** The weekly schedule, holidays and the offline texts. */
export async function hoursSection(body) {
  let answer;
  try {
    answer = await api('GET', '/api/team/business-hours');
  } catch (err) {
    return failed(body, err);
  }
  const hours = structuredClone(answer.business_hours || {});
  hours.weekly ||= {};
  const editable = can('admin');
  const enabled = checkbox('Use business hours (off: always open)', !!hours.enabled, (v) => (hours.enabled = v));
  const zone = h('input', { value: hours.timezone || Intl.DateTimeFormat().resolvedOptions().timeZone, disabled: !editable });
  const days = DAYS.map(([key, name]) => {
    const interval = hours.weekly[key]?.[0] || { open: '09:00', close: '17:00' };
    const open = h('input', { type: 'time', value: interval.open, 'aria-label': `${name} opens` });
    const close = h('input', { type: 'time', value: interval.close, 'aria-label': `${name} closes` });
    const on = h('input', { type: 'checkbox', checked: !!hours.weekly[key]?.length, 'aria-label': `Open on ${name}` });
    return { key, on, open, close, row: h('div', { class: 'hours-row' }, h('strong', {}, name), on, h('span', { style: 'display:flex;gap:6px;align-items:center' }, open, '–', close), h('span')) };
  });
  const holidays = h('input', { placeholder: '2026-12-25, 2027-01-01', value: (hours.holidays || []).join(', '), disabled: !editable });
  const offline = h('textarea', { rows: 2, maxlength: 500, disabled: !editable });
  offline.value = hours.offline_message || '';
  const autoReply = h('textarea', { rows: 2, maxlength: 1000, disabled: !editable });
  autoReply.value = hours.auto_reply || '';
  const form = h('form', {},
    card('Schedule', enabled, field('Time zone (IANA)', zone, 'For example Europe/Paris or America/New_York.'), ...days.map((d) => d.row),
      field('Holidays (closed all day)', holidays)),
    card('While closed', field('Message in the widget', offline), field('Automatic reply to a visitor who writes', autoReply)),
    editable ? h('button', { class: 'btn primary' }, 'Save hours') : null);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const weekly = {};
    for (const d of days) if (d.on.checked) weekly[d.key] = [{ open: d.open.value, close: d.close.value }];
    const saved = await run(() => api('PUT', '/api/team/business-hours', {
      enabled: hours.enabled, timezone: zone.value.trim(), weekly,
      holidays: holidays.value.split(',').map((s) => s.trim()).filter(Boolean),
      offline_message: offline.value, auto_reply: autoReply.value,
    }), 'Business hours saved');
    if (saved) status.textContent = saved.open_now ? 'Open now' : 'Closed now';
  });
  if (!editable) form.querySelectorAll('input,select,textarea').forEach((i) => (i.disabled = true));
  const status = h('span', { class: `chip ${answer.open_now ? '' : 'closed'}` }, answer.open_now ? 'Open now' : 'Closed now');
  page(body, 'Business hours', 'When your team answers. Outside these hours the widget says so and can reply by itself.', h('p', {}, status), form);
}

/** Canned answers (typed after `/` in the composer) and labels. */
export async function cannedSection(body) {
  let canned;
  try {
    canned = await api('GET', '/api/canned-answers');
  } catch (err) {
    return failed(body, err);
  }
  const labels = await api('GET', '/api/labels').catch(() => ({ labels: [] }));
  const reload = () => cannedSection(body);
  const manage = can('manager');
  const code = h('input', { required: true, pattern: '[a-z0-9_-]{1,32}', placeholder: 'refund' });
  const content = h('textarea', { required: true, rows: 2, maxlength: 4000 });
  const add = h('form', {}, h('div', { class: 'inline' }, field('Short code', code, 'a-z, 0-9, - and _'), field('Answer', content)),
    h('button', { class: 'btn primary', style: 'margin-top:10px' }, 'Add canned answer'));
  add.addEventListener('submit', (e) => {
    e.preventDefault();
    run(() => api('POST', '/api/canned-answers', { short_code: code.value.trim(), content: content.value }), 'Canned answer added').then(reload);
  });
  const labelName = h('input', { required: true, pattern: '[a-z0-9_-]{1,40}', placeholder: 'billing' });
  const labelColor = h('input', { type: 'color', value: '#4338ca' });
  const addLabel = h('form', { class: 'inline' }, field('Label', labelName), field('Colour', labelColor), h('button', { class: 'btn primary' }, 'Add label'));
  addLabel.addEventListener('submit', (e) => {
    e.preventDefault();
    run(() => api('POST', '/api/labels', { name: labelName.value.trim(), color: labelColor.value }), 'Label added').then(async () => {
      state.labels = (await api('GET', '/api/labels')).labels;
      reload();
    });
  });
  const answers = (canned.canned_answers || []).map((a) => [h('span', { class: 'mono' }, `/${a.short_code}`), a.content,
    manage ? h('button', { class: 'btn small danger', onclick: () => run(() => api('DELETE', `/api/canned-answers/${a.id}`), 'Deleted').then(reload) }, 'Delete') : '']);
  const labelRows = labels.labels.map((l) => [h('span', { class: 'chip' }, h('span', { class: 'swatch', style: `background:${l.color || '#9ca3af'}` }), l.name),
    manage ? h('button', { class: 'btn small danger', onclick: () => run(() => api('DELETE', `/api/labels/${encodeURIComponent(l.name)}`), 'Label deleted').then(reload) }, 'Delete') : '']);
  page(body, 'Canned answers & labels', 'Saved replies your team inserts with /, and the labels that sort conversations.',
    card('Canned answers', table(['Code', 'Answer', ''], answers, 'No canned answers yet.'), manage ? add : null),
    card('Labels', table(['Label', ''], labelRows, 'No labels yet.'), manage ? addLabel : null));
}
