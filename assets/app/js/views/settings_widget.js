// Widget appearance, texts, UTM capture and behaviour, with a live preview of the real widget (widget.js
// in preview mode inside an iframe, fed the edited config by postMessage) and the embed snippet. Saving
// sends back the whole config it read with the edits applied, so fields this page does not know survive;
// the server pushes the saved config to live widgets.
import { api } from '../api.js';
import { copy, h, icon } from '../dom.js';
import { card, checkbox, failed, field, page, run } from './form.js';

const UTM_FLAGS = [
  ['captureSource', 'utm_source'], ['captureMedium', 'utm_medium'], ['captureCampaign', 'utm_campaign'],
  ['captureTerm', 'utm_term'], ['captureContent', 'utm_content'], ['captureCustom', 'Custom parameters'],
  ['appendPageContext', 'Page address, host and referrer'], ['appendTimestamp', 'Time of the visit'],
];

/** The widget page. */
export async function widgetSection(body) {
  page(body, 'Chat widget', 'How the chat looks on your site, what it says and when it opens.', h('p', { class: 'hint' }, 'Loading…'));
  let key = null;
  let config = {};
  try {
    const { keys } = await api('GET', '/api/products/keys');
    key = keys.find((k) => k.product === 'chatbot' && k.status === 'active')?.product_key || null;
    if (key) config = (await api('GET', `/api/widget/config?product_key=${encodeURIComponent(key)}`)).config || {};
  } catch (err) {
    return failed(body, err);
  }
  const edited = structuredClone(config);
  // Our own page and script, same origin: no sandbox (one with scripts and same-origin would be no sandbox anyway).
  const frame = h('iframe', { title: 'Widget preview' });
  const post = () => frame.contentWindow?.postMessage({ type: 'switchboard:preview', config: edited }, '*');
  frame.addEventListener('load', post);
  frame.srcdoc = `<!doctype html><html><head><meta charset="utf-8"></head><body style="margin:0;font:14px system-ui;color:#334155;background:linear-gradient(135deg,#f1f3f9,#e6e9f4);min-height:100vh">
<div style="padding:24px"><div style="height:14px;width:40%;background:#d5d9e6;border-radius:7px;margin-bottom:12px"></div><div style="height:10px;width:70%;background:#e0e3ee;border-radius:5px;margin-bottom:8px"></div><div style="height:10px;width:55%;background:#e0e3ee;border-radius:5px"></div></div>
<script src="${location.origin}/widget.js" data-preview="true" async></script></body></html>`;
  const changed = () => post();

  const text = (label, path, { max = 200, hint, area } = {}) => {
    const input = h(area ? 'textarea' : 'input', { maxlength: max, rows: area ? 3 : null });
    input.value = get(edited, path) ?? '';
    input.addEventListener('input', () => { set(edited, path, input.value); changed(); });
    return field(label, input, hint);
  };
  const color = (label, path, fallback) => {
    const input = h('input', { type: 'color', value: get(edited, path) || fallback });
    input.addEventListener('input', () => { set(edited, path, input.value); changed(); });
    return field(label, h('div', { style: 'display:flex;gap:8px;align-items:center' }, input, h('span', { class: 'mono' }, get(edited, path) || fallback)));
  };
  const choice = (label, path, options, fallback) => {
    const select = h('select', {}, ...options.map(([v, l]) => h('option', { value: v }, l)));
    select.value = get(edited, path) ?? fallback;
    select.addEventListener('change', () => { set(edited, path, select.value); changed(); });
    return field(label, select);
  };
  const number = (label, path, { min, max, nullable, hint }) => {
    const input = h('input', { type: 'number', min, max, placeholder: nullable ? 'Off' : '' });
    input.value = get(edited, path) ?? '';
    input.addEventListener('input', () => {
      const n = input.value === '' ? (nullable ? null : 0) : Math.max(min, Math.min(max, Math.round(Number(input.value))));
      set(edited, path, n);
      changed();
    });
    return field(label, input, hint);
  };
  const has = (name) => Object.prototype.hasOwnProperty.call(config, name);

  const appearance = card('Appearance and texts',
    h('div', { class: 'grid2' },
      text('Title', ['title'], { max: 100 }),
      has('agentName') ? text('Agent name', ['agentName'], { max: 60, hint: 'Shown as the person who greets visitors.' }) : null),
    text('Greeting', ['greeting'], { max: 500, area: true }),
    has('avatarUrl') ? text('Avatar URL', ['avatarUrl'], { max: 500, hint: 'An https:// image, or empty for initials.' }) : null,
    h('div', { class: 'grid2' },
      color('Main colour', ['primaryColor'], '#4338ca'),
      color('Text on the main colour', ['textColor'], '#ffffff'),
      choice('Position', ['position'], [['bottom-right', 'Bottom right'], ['bottom-left', 'Bottom left']], 'bottom-right'),
      has('theme') ? choice('Theme', ['theme'], [['auto', 'Follow the visitor’s system'], ['light', 'Light'], ['dark', 'Dark']], 'auto') : null,
      has('replyTime') ? choice('Usual reply time', ['replyTime'], [['minutes', 'In a few minutes'], ['hours', 'In a few hours'], ['day', 'In a day']], 'minutes') : null));

  const utm = edited.utm || (edited.utm = {});
  const params = h('input', { placeholder: 'gclid, fbclid, ref' });
  params.value = (utm.customParams || []).join(', ');
  params.addEventListener('input', () => { utm.customParams = params.value.split(',').map((s) => s.trim()).filter(Boolean); changed(); });
  const utmCard = card('Campaign tracking (UTM)',
    h('p', { class: 'hint' }, 'What the widget records about where a visitor came from; agents see it beside the conversation.'),
    h('div', { class: 'grid2' }, ...UTM_FLAGS.map(([flag, label]) => checkbox(label, !!utm[flag], (v) => { utm[flag] = v; changed(); }))),
    field('Custom parameters', params, 'Comma-separated query parameters to keep.'));

  const behaviour = has('behavior') ? behaviourCard(edited, number, changed) : null;
  const snippetBox = h('pre', { class: 'snippet' }, snippetFor(key));
  const copyButton = h('button', { class: 'btn small', type: 'button', onclick: () => copy(snippetBox.textContent, 'The snippet was copied') }, icon('copy'), 'Copy');
  const save = h('button', { class: 'btn primary', type: 'submit' }, 'Save and publish');
  const form = h('form', {}, appearance, utmCard, behaviour,
    card('Install on your site', h('p', { class: 'hint' }, 'Paste this before </body> on every page where the chat should appear.'), snippetBox, copyButton),
    h('div', { style: 'display:flex;gap:10px;align-items:center' }, save, h('span', { class: 'hint' }, 'Live widgets pick up the change without a reload.')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    save.disabled = true;
    const answer = await run(() => api('POST', '/api/products/chatbot/configure', { config: edited }), 'Widget saved and published');
    save.disabled = false;
    if (answer) {
      key = answer.product_key;
      snippetBox.textContent = answer.embed_snippet || snippetFor(key);
      Object.assign(config, answer.config);
    }
  });
  page(body, 'Chat widget', 'How the chat looks on your site, what it says and when it opens.',
    h('div', { class: 'split' }, form, h('div', { class: 'preview' }, h('p', { class: 'label' }, 'Live preview'), frame)));
}

function behaviourCard(edited, number, changed) {
  const b = edited.behavior || (edited.behavior = {});
  const patterns = (label, name) => {
    const area = h('textarea', { rows: 3, placeholder: '/pricing*\n/checkout' });
    area.value = (b[name] || []).join('\n');
    area.addEventListener('input', () => { b[name] = area.value.split('\n').map((s) => s.trim()).filter(Boolean).slice(0, 20); changed(); });
    return field(label, area, 'One pattern per line, * matches anything (up to 20).');
  };
  return card('Behaviour',
    h('div', { class: 'grid2' },
      number('Show the launcher after (seconds)', ['behavior', 'openDelaySeconds'], { min: 0, max: 600 }),
      number('Open by itself after (seconds)', ['behavior', 'autoOpenAfterSeconds'], { min: 1, max: 3600, nullable: true, hint: 'Empty: never.' }),
      number('Open at scroll depth (%)', ['behavior', 'autoOpenScrollPercent'], { min: 1, max: 100, nullable: true, hint: 'Empty: never.' }),
      number('At most once per visitor every (hours)', ['behavior', 'frequencyCapHours'], { min: 0, max: 720, hint: '0: no limit.' })),
    checkbox('Open when the visitor is about to leave (exit intent)', !!b.autoOpenOnExitIntent, (v) => { b.autoOpenOnExitIntent = v; changed(); }),
    h('div', { class: 'grid2' }, patterns('Show only on', 'showOnUrls'), patterns('Never show on', 'hideOnUrls')));
}

function snippetFor(key) {
  return key ? `<script src="${location.origin}/widget.js" data-product-key="${key}" async></script>` : 'Save once to issue your chat key and snippet.';
}

function get(object, path) {
  return path.reduce((o, k) => (o == null ? undefined : o[k]), object);
}

function set(object, path, value) {
  const last = path[path.length - 1];
  const parent = path.slice(0, -1).reduce((o, k) => (o[k] ??= {}), object);
  parent[last] = value;
}
