/*! Switchboard chat widget. Embed it with either
 *   <script src="https://YOUR-SWITCHBOARD/widget.js" data-product-key="chat_…" async></script>
 * or
 *   <script src="https://YOUR-SWITCHBOARD/widget.js"></script>
 *   <script>ChatWidget.setup({ siteId: "chat_…" });</script>
 * Vanilla ES2017, no dependencies, no build step. Globals: `window.Switchboard`, `window.ChatWidget`.
 * Protocol: GET /api/widget/config (or /api/load-config), then the JSON frames of /ws/widget (see the
 * README). `data-preview="true"` renders an open panel with sample messages, no network, and takes
 * `postMessage({type: 'switchboard:preview', config})` (the control panel's live preview). */
(function () {
  'use strict';

  var VERSION = '1.1.0';
  var PING_MS = 25000; // application ping
  var PONG_WAIT_MS = 20000; // a ping unanswered for this long: the socket is dead, reconnect
  var WELCOME_WAIT_MS = 15000; // a socket not welcomed within this: give up on it, reconnect
  var BACKOFF_MIN_MS = 500;
  var BACKOFF_MAX_MS = 30000;
  var RESEND_MS = 1500; // pause after rate_limited / unavailable, then resend
  var SEND_WINDOW = 8; // unacknowledged messages on the wire at once (the server's burst is larger)
  var TYPING_THROTTLE_MS = 3000;
  var TYPING_IDLE_MS = 2000;
  var AGENT_TYPING_MS = 6000;
  var MAX_TEXT_CHARS = 4000;
  var MAX_METADATA_BYTES = 4000; // the server takes 4 KiB
  var MAX_OUTBOX = 100;
  var TOKEN_RE = /^[0-9a-f]{32}$/;
  var COLOR_RE = /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/;
  var KEY_RE = /^chat_[A-Za-z0-9_-]+$/;
  var REPLY_TIMES = {
    minutes: 'Usually replies in a few minutes',
    hours: 'Usually replies in a few hours',
    day: 'Usually replies within a day',
  };
  var EMOJI = '😀 😂 😊 😍 🤔 😅 😢 😮 👍 👎 👏 🙏 👋 🙌 💪 🎉 ❤️ 🔥 ✅ ❌ ⭐ 🚀 👀 ☕'.split(' ');
  var DEFAULTS = {
    title: 'Chat with us',
    greeting: 'Hi! How can we help?',
    primaryColor: '#2563eb',
    textColor: '#ffffff',
    position: 'bottom-right',
    agentName: '',
    avatarUrl: '',
    replyTime: 'minutes',
    theme: 'auto',
    behavior: {
      openDelaySeconds: 0,
      autoOpenAfterSeconds: null,
      autoOpenScrollPercent: null,
      autoOpenOnExitIntent: false,
      frequencyCapHours: 0,
      showOnUrls: [],
      hideOnUrls: [],
    },
    utm: {
      captureSource: true,
      captureMedium: true,
      captureCampaign: true,
      captureTerm: true,
      captureContent: true,
      captureCustom: true,
      customParams: ['gclid', 'fbclid', 'msclkid'],
      appendPageContext: true,
      appendTimestamp: true,
    },
  };

  var script = document.currentScript || document.querySelector('script[src*="widget.js"]');
  if (!script) return;
  var preview = script.getAttribute('data-preview') === 'true';
  var productKey = (script.getAttribute('data-product-key') || '').trim();
  if (window.Switchboard && (preview || window.Switchboard.productKey === productKey)) return; // loaded twice
  var viaSetup = false; // ChatWidget.setup({siteId}): the config comes from /api/load-config
  var base;
  try {
    base = new URL(script.getAttribute('src') || '', location.href).origin;
  } catch (e) {
    base = location.origin;
  }
  var wsBase = base.replace(/^http/, 'ws'); // https → wss, http → ws
  var arrivedAt = new Date().toISOString();
  var storeKey = 'switchboard:';

  function warn(message) {
    if (window.console && console.warn) console.warn('[switchboard] ' + message);
  }

  // ---- persisted state (visitor token, last seq, unacknowledged messages) -----------------------

  function loadSaved() {
    try {
      var parsed = JSON.parse(localStorage.getItem(storeKey) || '{}');
      return parsed && typeof parsed === 'object' ? parsed : {};
    } catch (e) {
      return {};
    }
  }

  var state = {
    config: DEFAULTS,
    visitorToken: null,
    conversationId: null,
    status: null,
    outbox: [],
    // Seqs shown; `contiguous` is the highest n with 1..n all shown: what a reconnect resumes from.
    seen: new Set(),
    contiguous: 0,
    maxSeq: 0,
    readSeq: 0, // shown with the panel open
    readSent: 0,
    unread: 0,
    open: false,
    available: true,
  };

  /** Reads what this browser kept for the product key (called once the key is known). */
  function restore() {
    storeKey = 'switchboard:' + productKey;
    var saved = loadSaved();
    state.visitorToken = TOKEN_RE.test(saved.visitorToken) ? saved.visitorToken : null;
    state.readSeq = Number(saved.readSeq) > 0 ? Number(saved.readSeq) : 0;
    state.outbox = (Array.isArray(saved.outbox) ? saved.outbox : [])
      .filter(function (m) {
        return m && typeof m.id === 'string' && typeof m.text === 'string' && m.id && m.text.trim();
      })
      .slice(-MAX_OUTBOX);
  }

  function save() {
    if (preview) return;
    try {
      localStorage.setItem(
        storeKey,
        JSON.stringify({
          visitorToken: state.visitorToken,
          lastSeq: state.contiguous,
          readSeq: state.readSeq,
          outbox: state.outbox,
        })
      );
    } catch (e) {
      /* storage full or blocked: the widget still works for this page */
    }
  }

  function newId() {
    var c = window.crypto;
    if (c && typeof c.randomUUID === 'function') return c.randomUUID();
    var bytes = new Uint8Array(16);
    if (c && c.getRandomValues) c.getRandomValues(bytes);
    else for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    return Array.prototype.map
      .call(bytes, function (b) {
        return (b < 16 ? '0' : '') + b.toString(16);
      })
      .join('');
  }

  // ---- configuration -----------------------------------------------------------------------------

  function isObject(value) {
    return !!value && typeof value === 'object' && !Array.isArray(value);
  }

  /** `patch` merged into `base`, objects key by key (what the server's update_settings merge does). */
  function merged(base, patch) {
    var out = Object.assign({}, base);
    Object.keys(isObject(patch) ? patch : {}).forEach(function (key) {
      out[key] = isObject(out[key]) && isObject(patch[key]) ? merged(out[key], patch[key]) : patch[key];
    });
    return out;
  }

  // ---- UTM parameters and page context ----------------------------------------------------------

  function byteLength(text) {
    return window.TextEncoder ? new TextEncoder().encode(text).length : unescape(encodeURIComponent(text)).length;
  }

  function buildContext() {
    var utm = state.config.utm || {};
    var params = new URLSearchParams(location.search);
    var metadata = {};
    var put = function (name) {
      var value = params.get(name);
      if (value) metadata[name] = value.slice(0, 500);
    };
    [
      ['captureSource', 'utm_source'],
      ['captureMedium', 'utm_medium'],
      ['captureCampaign', 'utm_campaign'],
      ['captureTerm', 'utm_term'],
      ['captureContent', 'utm_content'],
    ].forEach(function (pair) {
      if (utm[pair[0]]) put(pair[1]);
    });
    if (utm.captureCustom && Array.isArray(utm.customParams)) {
      utm.customParams.forEach(function (name) {
        if (typeof name === 'string' && name) put(name);
      });
    }
    if (utm.appendPageContext) {
      metadata.page_host = location.host;
      metadata.page_url = location.href.slice(0, 1000);
      if (document.referrer) metadata.referrer = document.referrer.slice(0, 1000);
    }
    if (utm.appendTimestamp) metadata.timestamp = arrivedAt;
    // Stay under the server's limit: drop the bulkiest, least essential fields first.
    var droppable = ['page_url', 'referrer'].concat(Object.keys(metadata).reverse());
    while (byteLength(JSON.stringify(metadata)) > MAX_METADATA_BYTES && droppable.length) {
      delete metadata[droppable.shift()];
    }
    return metadata;
  }

  // ---- look --------------------------------------------------------------------------------------

  var ui = null;
  var bySeq = new Map(); // seq → message element
  var byClientId = new Map(); // client_msg_id → visitor message element

  var LIGHT = '--sb-bg:#f6f7f9;--sb-surface:#fff;--sb-fg:#111827;--sb-muted:#5f6672;--sb-border:#e4e7ec;--sb-agent:#fff;--sb-shadow:0 1px 2px rgba(16,24,40,.08)';
  var DARK = '--sb-bg:#15171c;--sb-surface:#1d2027;--sb-fg:#f2f4f7;--sb-muted:#a3aab5;--sb-border:#30343d;--sb-agent:#272b33;--sb-shadow:none';
  var CSS = [
    ':host{all:initial !important}',
    '.sb-root{' + LIGHT + '}',
    '.sb-root[data-theme=dark]{' + DARK + '}',
    '@media (prefers-color-scheme:dark){.sb-root[data-theme=auto]{' + DARK + '}}',
    '.sb-root,.sb-root *{box-sizing:border-box;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;font-size:14px;line-height:1.45;letter-spacing:normal;text-transform:none;margin:0}',
    '[hidden]{display:none !important}',
    '.sb-sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}',
    'button{font:inherit;color:inherit}',
    ':focus-visible{outline:3px solid #60a5fa;outline-offset:2px}',
    // Launcher: a 60 px button that turns into the close button while the panel is open.
    '.sb-bubble{all:unset;position:fixed;bottom:20px;right:20px;width:60px;height:60px;border-radius:50%;cursor:pointer;display:flex;align-items:center;justify-content:center;background:var(--sb-primary);color:var(--sb-text);box-shadow:0 6px 20px rgba(0,0,0,.22);z-index:2147483000;transition:transform .2s}',
    '.sb-bubble:hover{transform:scale(1.06)}',
    '.sb-bubble:focus-visible{outline:3px solid #60a5fa;outline-offset:3px}',
    '.sb-left .sb-bubble{right:auto;left:20px}',
    '.sb-open .sb-icon-chat,.sb-icon-close{display:none}.sb-open .sb-icon-close{display:block}',
    '.sb-badge{position:absolute;top:-2px;right:-2px;min-width:20px;height:20px;padding:0 6px;border-radius:10px;background:#d92d20;color:#fff;font-size:11px;font-weight:700;line-height:20px;text-align:center;box-shadow:0 0 0 2px #fff}',
    // Panel.
    '.sb-panel{position:fixed;bottom:92px;right:20px;width:380px;max-width:calc(100vw - 32px);height:620px;max-height:calc(100vh - 112px);display:flex;flex-direction:column;background:var(--sb-surface);color:var(--sb-fg);border-radius:16px;box-shadow:0 12px 48px rgba(0,0,0,.22);overflow:hidden;z-index:2147483000;animation:sb-in .18s ease-out}',
    '@keyframes sb-in{from{opacity:0;transform:translateY(12px)}}',
    '.sb-left .sb-panel{right:auto;left:20px}',
    '.sb-header{display:flex;align-items:center;gap:12px;padding:16px 12px 16px 18px;background:var(--sb-primary);color:var(--sb-text)}',
    '.sb-who{flex:1;min-width:0}',
    '.sb-title{font-weight:650;font-size:16px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}',
    '.sb-subtitle{font-size:13px;opacity:.9;display:flex;align-items:center;gap:6px}',
    '.sb-dot{flex:none;width:8px;height:8px;border-radius:50%;background:#22c55e;box-shadow:0 0 0 2px rgba(255,255,255,.5)}',
    '.sb-away .sb-dot{background:#a3aab5}',
    '.sb-avatar{flex:none;width:40px;height:40px;border-radius:50%;display:flex;align-items:center;justify-content:center;overflow:hidden;background:rgba(255,255,255,.22);color:inherit;font-weight:650;font-size:15px}',
    '.sb-avatar img{width:100%;height:100%;object-fit:cover}',
    '.sb-row .sb-avatar{width:28px;height:28px;font-size:11px;background:var(--sb-primary);color:var(--sb-text);align-self:flex-end;margin-bottom:18px}',
    '.sb-close{all:unset;cursor:pointer;width:44px;height:44px;border-radius:10px;display:flex;align-items:center;justify-content:center}',
    '.sb-close:hover{background:rgba(255,255,255,.15)}',
    '.sb-close:focus-visible{outline:3px solid currentColor;outline-offset:-3px}',
    '.sb-banner{padding:8px 16px;background:#fef3c7;color:#78350f;font-size:13px}',
    // Conversation.
    '.sb-messages{flex:1;overflow-y:auto;padding:16px 14px 8px;display:flex;flex-direction:column;gap:10px;background:var(--sb-bg)}',
    '.sb-row{display:flex;gap:8px;align-items:flex-start;max-width:100%}',
    '.sb-row[data-from=visitor]{justify-content:flex-end}',
    '.sb-body{display:flex;flex-direction:column;max-width:78%;min-width:0}',
    '.sb-row[data-from=visitor] .sb-body{align-items:flex-end}',
    '.sb-name{font-size:12px;color:var(--sb-muted);margin:0 0 3px 2px}',
    '.sb-msg{padding:9px 13px;border-radius:18px;white-space:pre-wrap;overflow-wrap:anywhere;font-size:15px;background:var(--sb-agent);color:var(--sb-fg);box-shadow:var(--sb-shadow);border:1px solid var(--sb-border);border-bottom-left-radius:6px}',
    '.sb-msg[data-from=visitor]{background:var(--sb-primary);color:var(--sb-text);border-color:transparent;border-radius:18px;border-bottom-right-radius:6px}',
    '.sb-msg[data-from=system]{font-style:italic}',
    '.sb-msg[data-status=pending]{opacity:.65}',
    '.sb-msg[data-status=failed]{background:#fee4e2;color:#912018}',
    '.sb-meta{font-size:11px;color:var(--sb-muted);margin:3px 4px 0;display:flex;gap:4px;min-height:15px}',
    '.sb-tick{letter-spacing:-3px;padding-right:3px}.sb-tick[data-read]{color:var(--sb-primary);filter:brightness(1.1)}',
    '.sb-typing{display:flex;gap:4px;padding:12px 14px;width:max-content;border-radius:18px;border-bottom-left-radius:6px;background:var(--sb-agent);border:1px solid var(--sb-border)}',
    '.sb-typing i{width:7px;height:7px;border-radius:50%;background:var(--sb-muted);animation:sb-bob 1.2s infinite}',
    '.sb-typing i:nth-child(2){animation-delay:.15s}.sb-typing i:nth-child(3){animation-delay:.3s}',
    '@keyframes sb-bob{0%,60%,100%{transform:none;opacity:.5}30%{transform:translateY(-4px);opacity:1}}',
    '.sb-ended{margin:4px auto 0;padding:5px 12px;border-radius:999px;background:var(--sb-border);color:var(--sb-muted);font-size:12px;text-align:center}',
    '.sb-csat{margin:6px 14px 10px;padding:14px;border-radius:14px;background:var(--sb-agent);border:1px solid var(--sb-border);color:var(--sb-fg);font-size:14px}',
    '.sb-csat-stars{display:flex;gap:6px;margin:8px 0}',
    '.sb-csat-stars button{flex:1;min-width:44px;min-height:44px;border:1px solid var(--sb-border);border-radius:10px;background:var(--sb-surface);cursor:pointer;font-size:16px}',
    '.sb-csat-stars button[aria-pressed=true]{background:var(--sb-primary);color:var(--sb-text);border-color:var(--sb-primary)}',
    '.sb-csat textarea{width:100%;font:inherit;font-size:16px;margin-bottom:8px;padding:8px;border-radius:10px;border:1px solid var(--sb-border);background:var(--sb-surface);color:var(--sb-fg);resize:vertical}',
    '.sb-csat .sb-send{width:100%;border-radius:10px;height:44px}',
    // Composer.
    '.sb-form{position:relative;display:flex;align-items:center;gap:4px;padding:8px 8px 8px 6px;border-top:1px solid var(--sb-border);background:var(--sb-surface)}',
    '.sb-input{all:unset;flex:1;min-width:0;padding:10px 8px;font-size:16px;color:var(--sb-fg)}',
    '.sb-input::placeholder{color:var(--sb-muted)}',
    '.sb-tool{all:unset;cursor:pointer;width:44px;height:44px;border-radius:12px;display:flex;align-items:center;justify-content:center;font-size:20px;color:var(--sb-muted)}',
    '.sb-tool:hover{background:var(--sb-bg)}',
    '.sb-send{all:unset;cursor:pointer;display:flex;align-items:center;justify-content:center;min-width:44px;height:44px;border-radius:12px;font-weight:600;background:var(--sb-primary);color:var(--sb-text)}',
    '.sb-tool:focus-visible,.sb-send:focus-visible{outline:3px solid #60a5fa;outline-offset:1px}',
    '.sb-emoji{position:absolute;bottom:62px;left:8px;display:grid;grid-template-columns:repeat(6,44px);gap:2px;padding:8px;border-radius:14px;background:var(--sb-surface);border:1px solid var(--sb-border);box-shadow:0 8px 28px rgba(0,0,0,.18)}',
    '.sb-emoji button{all:unset;cursor:pointer;width:44px;height:44px;border-radius:10px;text-align:center;font-size:22px;line-height:44px}',
    '.sb-emoji button:hover,.sb-emoji button:focus-visible{background:var(--sb-bg)}',
    '.sb-brand{padding:0 0 8px;text-align:center;font-size:11px;color:var(--sb-muted);background:var(--sb-surface)}',
    // A notice next to the launcher (show_notification).
    '.sb-note{position:fixed;bottom:92px;right:20px;width:300px;max-width:calc(100vw - 32px);display:flex;gap:10px;padding:14px 8px 14px 14px;border-radius:14px;background:var(--sb-surface);color:var(--sb-fg);box-shadow:0 10px 36px rgba(0,0,0,.2);z-index:2147483000;cursor:pointer;animation:sb-in .2s ease-out}',
    '.sb-left .sb-note{right:auto;left:20px}',
    '.sb-note[data-priority=high]{border-left:4px solid var(--sb-primary)}',
    '.sb-note .sb-avatar{width:32px;height:32px;font-size:12px;background:var(--sb-primary);color:var(--sb-text)}',
    '.sb-note-text{flex:1;min-width:0;white-space:pre-wrap;overflow-wrap:anywhere}',
    '.sb-note-name{font-size:12px;font-weight:650;color:var(--sb-muted);margin-bottom:2px}',
    '.sb-note .sb-close{width:44px;height:44px;margin:-10px -4px -10px 0;color:var(--sb-muted)}',
    // Phones: the panel takes the whole screen, and its own close button replaces the launcher.
    '@media (max-width:480px){.sb-root .sb-panel{inset:0;width:100%;max-width:none;height:100%;max-height:none;border-radius:0}.sb-open .sb-bubble{display:none}}',
    '@media (prefers-reduced-motion:reduce){.sb-root *{animation:none !important;transition:none !important}}',
  ].join('');

  function el(tag, className, sb, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (sb) node.setAttribute('data-sb', sb);
    if (text != null) node.textContent = text;
    return node;
  }

  function button(className, sb, label, content) {
    var node = el('button', className, sb, typeof content === 'string' ? content : null);
    node.type = 'button';
    if (label) node.setAttribute('aria-label', label);
    if (content && typeof content !== 'string') node.appendChild(content);
    return node;
  }

  var ICONS = {
    chat: 'M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8.4L4 21.5V18a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z',
    down: 'M6.7 8.3 12 13.6l5.3-5.3 1.4 1.4L12 16.4 5.3 9.7z',
    close: 'M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6 10.6 12 5 6.4z',
    send: 'M3.4 20.4 21 12 3.4 3.6 3.4 10l12.6 2-12.6 2z',
  };

  function icon(name, size, className) {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('width', String(size));
    svg.setAttribute('height', String(size));
    svg.setAttribute('aria-hidden', 'true');
    if (className) svg.setAttribute('class', className);
    var path = document.createElementNS(ns, 'path');
    path.setAttribute('fill', 'currentColor');
    path.setAttribute('d', ICONS[name]);
    svg.appendChild(path);
    return svg;
  }

  /** The name the visitor sees for the team. */
  function agentLabel() {
    return state.config.agentName || state.config.title || DEFAULTS.title;
  }

  /** An avatar (the configured picture, else initials, else the chat icon); repainted on config changes. */
  function avatarNode() {
    var node = el('span', 'sb-avatar', 'avatar');
    node.setAttribute('aria-hidden', 'true');
    paintAvatar(node);
    return node;
  }

  function paintAvatar(node) {
    var config = state.config;
    while (node.firstChild) node.removeChild(node.firstChild);
    if (/^https:\/\/\S+$/.test(config.avatarUrl || '')) {
      var img = el('img');
      img.alt = '';
      img.src = config.avatarUrl;
      img.onerror = function () {
        if (img.parentNode) img.parentNode.removeChild(img);
        node.appendChild(initials());
      };
      return node.appendChild(img);
    }
    node.appendChild(initials());
  }

  function initials() {
    var name = (state.config.agentName || '').trim();
    if (!name) return icon('chat', 18);
    var letters = name.split(/\s+/).slice(0, 2).map(function (word) {
      return Array.from(word)[0] || '';
    });
    return document.createTextNode(letters.join('').toUpperCase());
  }

  function buildLauncher() {
    var bubble = button('sb-bubble', 'bubble', 'Open chat');
    bubble.setAttribute('aria-expanded', 'false');
    bubble.appendChild(icon('chat', 28, 'sb-icon-chat'));
    bubble.appendChild(icon('down', 30, 'sb-icon-close'));
    var badge = el('span', 'sb-badge', 'badge');
    badge.hidden = true;
    badge.setAttribute('aria-hidden', 'true'); // the count is in the button's name
    bubble.appendChild(badge);
    return { bubble: bubble, badge: badge };
  }

  function buildHeader() {
    var header = el('div', 'sb-header');
    var avatar = avatarNode();
    var who = el('div', 'sb-who');
    var title = el('h2', 'sb-title', 'title');
    var subtitle = el('div', 'sb-subtitle', 'subtitle');
    subtitle.appendChild(el('span', 'sb-dot'));
    var subtitleText = el('span', null, 'subtitle-text');
    subtitle.appendChild(subtitleText);
    who.appendChild(title);
    who.appendChild(subtitle);
    var closeButton = button('sb-close', 'close', 'Close chat', icon('close', 22));
    [avatar, who, closeButton].forEach(function (n) {
      header.appendChild(n);
    });
    return { node: header, title: title, subtitle: subtitleText, close: closeButton };
  }

  /** The greeting, shown as the first message from the team (not stored). */
  function buildGreeting() {
    var text = el('div', 'sb-msg', 'greeting');
    text.setAttribute('data-from', 'agent');
    var row = agentRow(text);
    row.setAttribute('data-seq', '0'); // stored messages go below it
    return { row: row, text: text };
  }

  function buildComposer() {
    var form = el('form', 'sb-form', 'form');
    var emojiButton = button('sb-tool', 'emoji', 'Insert emoji', '😊');
    emojiButton.setAttribute('aria-expanded', 'false');
    var input = el('input', 'sb-input', 'input');
    input.type = 'text';
    input.placeholder = 'Write a message…';
    input.maxLength = MAX_TEXT_CHARS;
    input.autocomplete = 'off';
    input.setAttribute('aria-label', 'Message');
    var send = el('button', 'sb-send', 'send');
    send.type = 'submit';
    send.setAttribute('aria-label', 'Send');
    send.appendChild(icon('send', 20));
    var picker = el('div', 'sb-emoji', 'emoji-picker');
    picker.hidden = true;
    picker.setAttribute('role', 'group');
    picker.setAttribute('aria-label', 'Emoji');
    EMOJI.forEach(function (emoji) {
      var choice = button(null, null, null, emoji);
      choice.addEventListener('click', function () {
        insertAtCaret(input, emoji);
        toggleEmoji(false);
      });
      picker.appendChild(choice);
    });
    [picker, emojiButton, input, send].forEach(function (n) {
      form.appendChild(n);
    });
    return { node: form, input: input, emoji: emojiButton, picker: picker };
  }

  function insertAtCaret(input, text) {
    var start = input.selectionStart == null ? input.value.length : input.selectionStart;
    var end = input.selectionEnd == null ? start : input.selectionEnd;
    input.value = input.value.slice(0, start) + text + input.value.slice(end);
    input.focus();
    input.setSelectionRange(start + text.length, start + text.length);
  }

  function toggleEmoji(show) {
    ui.picker.hidden = !show;
    ui.emoji.setAttribute('aria-expanded', String(show));
    if (show) ui.picker.firstChild.focus();
  }

  function buildNotification() {
    var card = el('div', 'sb-note', 'notification');
    card.hidden = true;
    var body = el('div', 'sb-note-text');
    var name = el('div', 'sb-note-name', 'notification-name');
    var text = el('div', null, 'notification-text');
    body.appendChild(name);
    body.appendChild(text);
    var dismiss = button('sb-close', 'notification-close', 'Dismiss', icon('close', 18));
    [avatarNode(), body, dismiss].forEach(function (n) {
      card.appendChild(n);
    });
    card.addEventListener('click', function (event) {
      card.hidden = true;
      if (!dismiss.contains(event.target)) open(true);
    });
    return { node: card, name: name, text: text };
  }

  function mount() {
    var host = el('div', null, 'host');
    host.id = 'switchboard-widget';
    var root = host.attachShadow ? host.attachShadow({ mode: 'open' }) : host;
    var wrap = el('div', 'sb-root', 'root');
    var launcher = buildLauncher();
    var header = buildHeader();
    var panel = el('div', 'sb-panel', 'panel');
    panel.hidden = true;
    panel.setAttribute('role', 'dialog');
    var banner = el('div', 'sb-banner', 'connection', 'Connecting…');
    // Out of hours (or nobody online): what the team wants visitors to know.
    var notice = el('div', 'sb-banner', 'availability');
    notice.hidden = true;
    var messages = el('div', 'sb-messages', 'messages');
    messages.setAttribute('role', 'log');
    messages.setAttribute('aria-label', 'Conversation');
    var greeting = buildGreeting();
    messages.appendChild(greeting.row);
    var typing = agentRow(el('div', 'sb-typing', null));
    typing.setAttribute('data-sb', 'typing');
    typing.hidden = true;
    typing.querySelector('.sb-typing').innerHTML = '<i></i><i></i><i></i>';
    var ended = el('div', 'sb-ended', 'closed', 'This conversation has been closed');
    ended.hidden = true;
    var csat = csatPrompt();
    var composer = buildComposer();
    var note = buildNotification();
    // Announces reconnects and typing to screen readers (the log announces messages itself).
    var announcer = el('div', 'sb-sr', 'announcer');
    announcer.setAttribute('role', 'status');
    announcer.setAttribute('aria-live', 'polite');
    [header.node, banner, notice, messages, composer.node].forEach(function (n) {
      panel.appendChild(n);
    });
    [typing, ended, csat.node].forEach(function (n) {
      messages.appendChild(n);
    });
    [announcer, note.node, panel, launcher.bubble].forEach(function (n) {
      wrap.appendChild(n);
    });
    root.appendChild(el('style', null, null, CSS));
    root.appendChild(wrap);
    document.body.appendChild(host);

    ui = {
      host: host,
      root: root,
      wrap: wrap,
      bubble: launcher.bubble,
      badge: launcher.badge,
      panel: panel,
      title: header.title,
      subtitle: header.subtitle,
      banner: banner,
      notice: notice,
      messages: messages,
      greeting: greeting,
      typing: typing,
      ended: ended,
      csat: csat,
      input: composer.input,
      emoji: composer.emoji,
      picker: composer.picker,
      note: note,
      announcer: announcer,
    };
    wire(header, composer);
    applyConfig(state.config);
    // Messages written but never acknowledged (the page closed first) are shown and resent.
    state.outbox.forEach(function (item) {
      renderPending(item);
    });
  }

  function wire(header, composer) {
    ui.bubble.addEventListener('click', toggle);
    header.close.addEventListener('click', function () {
      close(true);
    });
    composer.node.addEventListener('submit', function (event) {
      event.preventDefault();
      if (sendMessage(ui.input.value)) ui.input.value = '';
      ui.input.focus();
    });
    composer.emoji.addEventListener('click', function () {
      toggleEmoji(ui.picker.hidden);
    });
    ui.input.addEventListener('input', onInput);
    ui.panel.addEventListener('keydown', function (event) {
      if (event.key !== 'Escape') return;
      if (!ui.picker.hidden) {
        toggleEmoji(false);
        ui.emoji.focus();
      } else close(true);
    });
    document.addEventListener('visibilitychange', maybeSendRead);
  }

  /** Applies a whole configuration to the mounted widget (first load, saved changes, commands, preview). */
  function applyConfig(config) {
    state.config = config;
    if (!ui) return;
    var theme = /^(light|dark)$/.test(config.theme) ? config.theme : 'auto';
    ui.wrap.setAttribute('data-theme', theme);
    ui.wrap.classList.toggle('sb-left', config.position === 'bottom-left');
    ui.wrap.style.setProperty('--sb-primary', COLOR_RE.test(config.primaryColor) ? config.primaryColor : DEFAULTS.primaryColor);
    ui.wrap.style.setProperty('--sb-text', COLOR_RE.test(config.textColor) ? config.textColor : DEFAULTS.textColor);
    ui.title.textContent = agentLabel();
    ui.panel.setAttribute('aria-label', config.title || DEFAULTS.title);
    ui.greeting.text.textContent = config.greeting || '';
    ui.greeting.row.hidden = !config.greeting;
    Array.prototype.forEach.call(ui.root.querySelectorAll('.sb-avatar'), paintAvatar);
    setSubtitle();
    setBadge();
    if (!preview) ui.host.style.display = shownHere(config) && !state.delayed ? '' : 'none';
  }

  function setSubtitle() {
    if (!ui) return;
    var away = !state.available;
    ui.subtitle.textContent = away
      ? 'Away now · leave us a message'
      : REPLY_TIMES[state.config.replyTime] || REPLY_TIMES.minutes;
    ui.subtitle.parentNode.classList.toggle('sb-away', away);
    ui.input.placeholder = state.status === 'closed' ? 'Write to reopen the conversation…' : away ? 'Leave us a message…' : 'Write a message…';
  }

  /** Says `text` through the polite live region (cleared first, so a repeat is announced again). */
  function announce(text) {
    if (!ui) return;
    ui.announcer.textContent = '';
    setTimeout(function () {
      ui.announcer.textContent = text;
    }, 60);
  }

  // ---- messages ----------------------------------------------------------------------------------

  /** A row for a team member's bubble: avatar, who said it (for screen readers), the bubble, its time. */
  function agentRow(bubble) {
    var row = el('div', 'sb-row', 'row');
    row.setAttribute('data-from', 'agent');
    row.appendChild(avatarNode());
    row.appendChild(rowBody(bubble, agentLabel()));
    return row;
  }

  function rowBody(bubble, who) {
    var body = el('div', 'sb-body');
    body.appendChild(el('span', 'sb-sr', null, who + ' said:'));
    body.appendChild(bubble);
    body.appendChild(el('div', 'sb-meta', 'meta'));
    return body;
  }

  function scrollToEnd() {
    if (ui) ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  /** A message bubble in its row; the bubble's text is the message alone. */
  function messageElement(from, text) {
    var kind = from === 'agent' || from === 'system' ? from : 'visitor';
    var node = el('div', 'sb-msg', 'message', text);
    node.setAttribute('data-from', kind);
    if (kind === 'visitor') {
      var row = el('div', 'sb-row', 'row');
      row.setAttribute('data-from', 'visitor');
      row.appendChild(rowBody(node, 'You'));
    } else {
      agentRow(node);
    }
    return node;
  }

  function rowOf(node) {
    return node.parentNode.parentNode;
  }

  function removeMessage(node) {
    var row = rowOf(node);
    if (row && row.parentNode) row.parentNode.removeChild(row);
  }

  /** Rows live above the typing indicator and the closed notice. */
  function appendRow(row) {
    ui.messages.insertBefore(row, ui.typing);
  }

  function formatTime(ms) {
    try {
      return new Date(ms).toLocaleTimeString([], { hour: 'numeric', minute: '2-digit' });
    } catch (e) {
      return '';
    }
  }

  /** Writes a bubble's time and, for the visitor's own, its delivery tick (✓ stored, ✓✓ read). */
  function updateMeta(node) {
    var meta = node.nextSibling;
    if (!meta) return;
    while (meta.firstChild) meta.removeChild(meta.firstChild);
    var at = Number(node.getAttribute('data-time'));
    if (at) meta.appendChild(el('time', null, null, formatTime(at)));
    if (node.getAttribute('data-from') !== 'visitor') return;
    var status = node.getAttribute('data-status');
    if (status === 'pending') return meta.appendChild(el('span', null, 'tick', 'Sending…'));
    if (status === 'failed') return meta.appendChild(el('span', null, 'tick', 'Not sent'));
    var read = node.getAttribute('data-read') === 'true';
    var tick = el('span', 'sb-tick', 'tick', read ? '✓✓' : '✓');
    tick.setAttribute('role', 'img');
    tick.setAttribute('aria-label', read ? 'Read' : 'Delivered');
    if (read) tick.setAttribute('data-read', '');
    meta.appendChild(tick);
  }

  function renderPending(item) {
    var node = messageElement('visitor', item.text);
    node.setAttribute('data-status', 'pending');
    node.setAttribute('data-client-msg-id', item.id);
    byClientId.set(item.id, node);
    appendRow(rowOf(node)); // pending messages stay below every stored one
    updateMeta(node);
    scrollToEnd();
    return node;
  }

  /** A line from the team that is not part of the stored conversation (open_chat's message, notices). */
  function showPrompt(text) {
    var node = messageElement('agent', text);
    node.setAttribute('data-sb', 'prompt');
    node.setAttribute('data-time', String(Date.now()));
    appendRow(rowOf(node));
    updateMeta(node);
    scrollToEnd();
  }

  /** Puts a stored message at its place: in seq order, above the pending ones. */
  function place(node, seq, createdAt) {
    node.setAttribute('data-seq', String(seq));
    node.removeAttribute('data-status');
    if (node.getAttribute('data-from') === 'visitor') node.setAttribute('data-status', 'sent');
    if (seq <= (state.agentReadSeq || 0)) node.setAttribute('data-read', 'true');
    if (createdAt) {
      node.setAttribute('data-time', String(createdAt));
      node.title = new Date(createdAt).toLocaleString();
    }
    bySeq.set(seq, node);
    var row = rowOf(node);
    row.setAttribute('data-seq', String(seq));
    if (row.parentNode) row.parentNode.removeChild(row);
    var before = ui.typing;
    for (var n = ui.typing.previousElementSibling; n; n = n.previousElementSibling) {
      if (n.hasAttribute('data-seq') && Number(n.getAttribute('data-seq')) < seq) break;
      before = n;
    }
    ui.messages.insertBefore(row, before);
    updateMeta(node);
    noteSeq(seq);
    scrollToEnd();
  }

  function noteSeq(seq) {
    state.seen.add(seq);
    if (seq > state.maxSeq) state.maxSeq = seq;
    while (state.seen.has(state.contiguous + 1)) state.contiguous += 1;
    save();
  }

  /** Forgets shown history (the server no longer knows the conversation); pending messages stay. */
  function clearHistory() {
    bySeq.forEach(function (node) {
      removeMessage(node);
      var id = node.getAttribute('data-client-msg-id');
      if (id && byClientId.get(id) === node) byClientId.delete(id);
    });
    bySeq.clear();
    state.seen.clear();
    state.contiguous = 0;
    state.maxSeq = 0;
    state.readSeq = 0;
    state.readSent = 0;
  }

  function markReadByAgent(seq) {
    if (!Number.isInteger(seq)) return;
    bySeq.forEach(function (node, s) {
      if (s <= seq && node.getAttribute('data-from') === 'visitor' && node.getAttribute('data-read') !== 'true') {
        node.setAttribute('data-read', 'true');
        updateMeta(node);
      }
    });
  }

  // ---- launcher, panel, live announcements -------------------------------------------------------

  /** The badge, and the launcher's name: what it does and how many replies wait. */
  function setBadge() {
    if (!ui) return;
    ui.badge.textContent = state.unread > 9 ? '9+' : String(state.unread);
    ui.badge.hidden = state.unread === 0;
    var label = state.open ? 'Close chat' : 'Open chat: ' + (state.config.title || DEFAULTS.title);
    if (state.unread && !state.open) label += ', ' + state.unread + (state.unread === 1 ? ' unread message' : ' unread messages');
    ui.bubble.setAttribute('aria-label', label);
  }

  var agentTypingTimer = null;
  function setAgentTyping(on) {
    clearTimeout(agentTypingTimer);
    if (!ui) return;
    if (on && ui.typing.hidden) announce(agentLabel() + ' is typing');
    ui.typing.hidden = !on;
    if (on) {
      scrollToEnd();
      agentTypingTimer = setTimeout(setAgentTyping, AGENT_TYPING_MS, false);
    }
  }

  function setConnected(connected) {
    if (!ui) return;
    var was = ui.host.getAttribute('data-connected') === 'true';
    ui.banner.hidden = connected;
    ui.banner.textContent = connected ? '' : state.everConnected ? 'Reconnecting…' : 'Connecting…';
    ui.host.setAttribute('data-connected', connected ? 'true' : 'false');
    if (was && !connected) {
      state.dropped = true;
      announce('Connection lost. Reconnecting…');
    } else if (connected && state.dropped) {
      state.dropped = false;
      announce('Reconnected');
    }
  }

  function open(fromUser) {
    if (!ui) return;
    state.open = true;
    ui.panel.hidden = false;
    ui.note.node.hidden = true;
    ui.wrap.classList.add('sb-open');
    ui.bubble.setAttribute('aria-expanded', 'true');
    state.unread = 0;
    setBadge();
    scrollToEnd();
    // Opened by the page or a command: the visitor's focus stays where it was.
    if (fromUser !== false) ui.input.focus();
    maybeSendRead();
  }

  function close(fromUser) {
    if (!ui || !state.open) return;
    state.open = false;
    ui.panel.hidden = true;
    ui.picker.hidden = true;
    ui.wrap.classList.remove('sb-open');
    ui.bubble.setAttribute('aria-expanded', 'false');
    setBadge();
    stopTyping();
    if (fromUser !== false) ui.bubble.focus();
  }

  function toggle() {
    if (state.open) close(true);
    else open(true);
  }

  // ---- conversation status and rating -----------------------------------------------------------

  function setStatus(status, rated) {
    state.status = status === 'closed' ? 'closed' : 'open';
    if (!ui) return;
    ui.host.setAttribute('data-status', state.status);
    ui.ended.hidden = state.status !== 'closed';
    // A closed conversation the visitor has not rated asks once for 1–5 and a comment.
    ui.csat.node.hidden = !(state.status === 'closed' && rated === false);
    if (state.status === 'closed') announce('The conversation has been closed');
    setSubtitle();
    scrollToEnd();
  }

  // The satisfaction prompt: five 44 px buttons (aria-pressed), an optional comment, a send button.
  function csatPrompt() {
    var node = el('div', 'sb-csat', 'csat');
    node.hidden = true;
    node.setAttribute('role', 'group');
    node.setAttribute('aria-label', 'Rate this conversation');
    node.appendChild(el('div', null, 'csat-question', 'How would you rate this conversation?'));
    var stars = el('div', 'sb-csat-stars', 'csat-stars');
    var chosen = 0;
    var buttons = [1, 2, 3, 4, 5].map(function (n) {
      var b = button(null, 'csat-' + n, n + ' of 5', String(n) + '\u2605');
      b.setAttribute('aria-pressed', 'false');
      b.addEventListener('click', function () {
        chosen = n;
        buttons.forEach(function (o, i) {
          o.setAttribute('aria-pressed', String(i < n));
        });
      });
      stars.appendChild(b);
      return b;
    });
    var comment = el('textarea', null, 'csat-comment');
    comment.maxLength = 1000;
    comment.rows = 2;
    comment.placeholder = 'Anything to add? (optional)';
    comment.setAttribute('aria-label', 'Comment');
    var submit = button('sb-send', 'csat-send', null, 'Send rating');
    submit.addEventListener('click', function () {
      if (!chosen) return buttons[0].focus();
      var text = comment.value.trim();
      var frame = { type: 'csat', rating: chosen };
      if (text) frame.comment = text;
      sendFrame(frame);
    });
    [stars, comment, submit].forEach(function (n) {
      node.appendChild(n);
    });
    return { node: node };
  }

  function csatDone() {
    if (!ui) return;
    var node = ui.csat.node;
    while (node.firstChild) node.removeChild(node.firstChild);
    node.appendChild(el('div', null, 'csat-thanks', 'Thank you for your feedback!'));
    announce('Thank you for your feedback!');
  }

  function showAvailability(frame) {
    if (!ui) return;
    var text = '';
    if (frame.open_now === false) text = frame.offline_message || 'We are closed right now. Leave a message and we will reply when we are back.';
    state.available = frame.open_now !== false && frame.agents_available !== false;
    ui.notice.textContent = text;
    ui.notice.hidden = !text;
    setSubtitle();
  }

  // ---- commands from the team's backend (`{"type": "command", …}`) ------------------------------

  function onCommand(frame) {
    var data = isObject(frame.data) ? frame.data : {};
    switch (frame.command) {
      case 'open_chat':
        open(false);
        if (typeof data.message === 'string' && data.message) showPrompt(data.message);
        return;
      case 'close_chat':
        return close(false);
      case 'show_notification':
        return showNotification(String(data.text || ''), data.priority);
      case 'update_settings':
        return applyConfig(merged(state.config, data));
      case 'track_event':
        return trackEvent(data);
      default:
        return; // a command this version does not know
    }
  }

  /** A notice by the launcher (or in the conversation while it is open). */
  function showNotification(text, priority) {
    if (!ui || !text) return;
    if (state.open) return showPrompt(text);
    var card = ui.note.node;
    card.setAttribute('data-priority', priority === 'high' || priority === 'low' ? priority : 'normal');
    // High priority interrupts a screen reader; the others wait their turn.
    card.setAttribute('role', priority === 'high' ? 'alert' : 'status');
    ui.note.name.textContent = agentLabel();
    ui.note.text.textContent = text;
    card.hidden = false;
  }

  /** Hands the event to the page's analytics: `dataLayer` (Google Tag Manager) and a DOM event. */
  function trackEvent(data) {
    if (typeof data.name !== 'string' || !data.name) return;
    var properties = isObject(data.properties) ? data.properties : {};
    if (Array.isArray(window.dataLayer)) window.dataLayer.push(Object.assign({ event: data.name }, properties));
    window.dispatchEvent(new CustomEvent('switchboard:track', { detail: { name: data.name, properties: properties } }));
  }

  // ---- behaviour: where the widget shows, and when it opens by itself ----------------------------

  function globMatches(pattern, text) {
    var parts = String(pattern).split('*').map(function (part) {
      return part.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
    });
    return new RegExp('^' + parts.join('.*') + '$').test(text);
  }

  function pageMatches(patterns) {
    var here = [location.pathname + location.search, location.pathname];
    return (Array.isArray(patterns) ? patterns : []).some(function (pattern) {
      return here.some(function (text) {
        return globMatches(pattern, text);
      });
    });
  }

  /** Whether this page shows the widget: on the show list (when there is one) and not on the hide list. */
  function shownHere(config) {
    var behavior = config.behavior || {};
    var show = Array.isArray(behavior.showOnUrls) ? behavior.showOnUrls : [];
    if (show.length && !pageMatches(show)) return false;
    return !pageMatches(behavior.hideOnUrls);
  }

  var autoOpened = false;

  /** Opens the panel once per page view, and at most once per frequency cap across page views. */
  function autoOpen() {
    if (autoOpened || state.open || !ui || ui.host.style.display === 'none') return;
    var capHours = Number((state.config.behavior || {}).frequencyCapHours) || 0;
    var key = storeKey + ':auto-opened';
    try {
      var last = Number(localStorage.getItem(key)) || 0;
      if (capHours > 0 && Date.now() - last < capHours * 3600000) return;
      localStorage.setItem(key, String(Date.now()));
    } catch (e) {
      /* storage blocked: no cap to keep, open anyway */
    }
    autoOpened = true;
    open(false);
  }

  function scheduleBehavior() {
    var behavior = state.config.behavior || {};
    var delay = Math.min(Math.max(Number(behavior.openDelaySeconds) || 0, 0), 600);
    if (delay) {
      state.delayed = true;
      applyConfig(state.config);
      setTimeout(function () {
        state.delayed = false;
        applyConfig(state.config);
      }, delay * 1000);
    }
    var after = Number(behavior.autoOpenAfterSeconds);
    if (after > 0) setTimeout(autoOpen, (delay + after) * 1000);
    var percent = Number(behavior.autoOpenScrollPercent);
    if (percent > 0) {
      window.addEventListener('scroll', function onScroll() {
        var seen = ((window.scrollY + window.innerHeight) / Math.max(document.documentElement.scrollHeight, 1)) * 100;
        if (seen < percent) return;
        window.removeEventListener('scroll', onScroll);
        autoOpen();
      }, { passive: true });
    }
    if (behavior.autoOpenOnExitIntent) {
      document.addEventListener('mouseout', function (event) {
        if (!event.relatedTarget && event.clientY <= 0) autoOpen();
      });
    }
  }

  function maybeSendRead() {
    if (!state.open || document.visibilityState === 'hidden') return;
    if (state.maxSeq > state.readSeq) {
      state.readSeq = state.maxSeq;
      save();
    }
    state.unread = 0;
    setBadge();
    if (state.conversationId && state.maxSeq > state.readSent && sendFrame({ type: 'read', seq: state.maxSeq })) {
      state.readSent = state.maxSeq;
    }
  }


  // ---- socket ------------------------------------------------------------------------------------

  var ws = null;
  var welcomed = false;
  var attempt = 0;
  var reconnectTimer = null;
  var pingTimer = null;
  var pingSentAt = 0; // set while a ping waits for any frame back
  var welcomeTimer = null;
  var inFlight = new Set(); // client_msg_ids sent on this socket and not yet answered
  var pauseTimer = null; // set while the server asked us to slow down

  function connect() {
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    if (ws) return;
    var url = wsBase + '/ws/widget?product_key=' + encodeURIComponent(productKey);
    // A fresh page has shown nothing yet (contiguous 0): the whole history is replayed.
    if (state.visitorToken) url += '&visitor_token=' + state.visitorToken + '&last_seq=' + state.contiguous;
    var socket;
    try {
      socket = new WebSocket(url);
    } catch (e) {
      scheduleReconnect();
      return;
    }
    ws = socket;
    welcomed = false;
    pingSentAt = 0;
    clearTimeout(welcomeTimer);
    welcomeTimer = setTimeout(function () {
      if (ws === socket && !welcomed) dropped();
    }, WELCOME_WAIT_MS);
    socket.onmessage = function (event) {
      if (ws !== socket) return;
      pingSentAt = 0;
      var frame;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (frame && typeof frame === 'object') onFrame(frame);
    };
    socket.onclose = function () {
      if (ws === socket) dropped();
    };
    socket.onerror = function () {
      /* a close event follows */
    };
  }

  function dropped() {
    var socket = ws;
    ws = null;
    welcomed = false;
    if (socket) {
      socket.onmessage = socket.onclose = socket.onerror = null;
      try {
        socket.close();
      } catch (e) {
        /* already closed */
      }
    }
    clearInterval(pingTimer);
    pingTimer = null;
    clearTimeout(welcomeTimer);
    inFlight.clear();
    clearTimeout(pauseTimer);
    pauseTimer = null;
    typingSent = false;
    setAgentTyping(false);
    setConnected(false);
    scheduleReconnect();
  }

  function scheduleReconnect() {
    if (reconnectTimer) return;
    var cap = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, Math.min(attempt, 16)));
    attempt += 1;
    var delay = cap / 2 + Math.random() * (cap / 2); // jitter: half to all of the cap
    reconnectTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (ws || !reconnectTimer) return;
    attempt = 0;
    connect();
  }

  function sendFrame(frame) {
    if (!ws || !welcomed || ws.readyState !== 1) return false;
    try {
      ws.send(JSON.stringify(frame));
      return true;
    } catch (e) {
      return false;
    }
  }

  function onFrame(frame) {
    switch (frame.type) {
      case 'welcome':
        return onWelcome(frame);
      case 'message':
        return onMessage(frame);
      case 'ack':
        return onAck(frame);
      case 'typing':
        if (frame.from !== 'visitor') setAgentTyping(!!frame.is_typing);
        return;
      case 'read':
        if (frame.from === 'agent') markReadByAgent((state.agentReadSeq = Number(frame.seq)));
        return;
      case 'status':
        return setStatus(frame.status, frame.rated);
      case 'csat_saved':
        return csatDone();
      case 'error':
        return onError(frame);
      case 'command':
        return onCommand(frame);
      case 'config':
        // The team saved new settings: they apply at once, no reload.
        return applyConfig(withDefaults(frame.config));
      default:
        return; // pong, and frames this version does not know
    }
  }

  function onWelcome(frame) {
    clearTimeout(welcomeTimer);
    welcomed = true;
    attempt = 0;
    state.everConnected = true;
    if (TOKEN_RE.test(frame.visitor_token)) state.visitorToken = frame.visitor_token;
    var conversationId = frame.conversation_id || null;
    if (state.conversationId && conversationId !== state.conversationId) clearHistory();
    state.conversationId = conversationId;
    if (frame.status) setStatus(frame.status, frame.rated);
    state.agentReadSeq = Number(frame.agent_read_seq) || 0;
    markReadByAgent(state.agentReadSeq);
    showAvailability(frame);
    showLeadForm(frame); // the pre-chat / offline form, when the tenant's leadForm asks for it
    save();
    setConnected(true);
    // Context first, so a conversation that the outbox opens is created with it.
    var metadata = buildContext();
    if (Object.keys(metadata).length) sendFrame({ type: 'context', metadata: metadata });
    inFlight.clear();
    pump();
    clearInterval(pingTimer);
    // Judged by the ping's own answer, not by time since the last frame: background tabs may run
    // this timer only once a minute.
    pingTimer = setInterval(function () {
      if (pingSentAt && Date.now() - pingSentAt > PONG_WAIT_MS) return dropped();
      if (!pingSentAt && sendFrame({ type: 'ping' })) pingSentAt = Date.now();
    }, PING_MS);
    maybeSendRead();
  }

  function onMessage(frame) {
    var seq = Number(frame.seq);
    if (!ui || !Number.isInteger(seq) || seq < 1 || typeof frame.text !== 'string') return;
    if (frame.conversation_id && !state.conversationId) state.conversationId = frame.conversation_id;
    if (bySeq.has(seq)) return; // already shown
    var from = frame.from || frame.sender;
    var clientId = typeof frame.client_msg_id === 'string' ? frame.client_msg_id : null;
    var node = from === 'visitor' && clientId ? byClientId.get(clientId) : null;
    if (node) {
      dropFromOutbox(clientId); // our own message, stored before its ack reached us
      inFlight.delete(clientId);
      pump();
    } else {
      node = messageElement(from, frame.text);
      if (from === 'visitor' && clientId) {
        node.setAttribute('data-client-msg-id', clientId);
        byClientId.set(clientId, node);
      }
    }
    place(node, seq, frame.created_at);
    if (from === 'agent') {
      setAgentTyping(false);
      if (seq > state.readSeq && !(state.open && document.visibilityState !== 'hidden')) {
        state.unread += 1;
        setBadge();
      }
    }
    maybeSendRead();
  }

  function onAck(frame) {
    var seq = Number(frame.seq);
    var clientId = frame.client_msg_id;
    if (!ui || !Number.isInteger(seq) || seq < 1) return;
    if (frame.conversation_id) state.conversationId = frame.conversation_id;
    var item = findOutbox(clientId);
    dropFromOutbox(clientId);
    inFlight.delete(clientId);
    pump();
    var node = clientId ? byClientId.get(clientId) : null;
    var shown = bySeq.get(seq);
    if (shown && shown !== node) {
      if (node) removeMessage(node); // shown already, via replay
      return;
    }
    if (!node) {
      if (shown || !item) return;
      node = renderPending(item);
    }
    place(node, seq, frame.created_at);
  }

  function onError(frame) {
    var clientId = frame.client_msg_id;
    var item = clientId ? findOutbox(clientId) : null;
    if (!item) {
      if (frame.code !== 'rate_limited') warn((frame.code || 'error') + ': ' + (frame.message || ''));
      return;
    }
    inFlight.delete(clientId);
    if (frame.code === 'rate_limited' || frame.code === 'unavailable') {
      // Pause, then resend from the oldest unanswered message, with the same client_msg_id:
      // the server stores each id once.
      if (!pauseTimer) {
        pauseTimer = setTimeout(function () {
          pauseTimer = null;
          pump();
        }, RESEND_MS * (0.75 + Math.random() * 0.5));
      }
      return;
    }
    // Refused for good (e.g. invalid_value): show it as not sent.
    dropFromOutbox(clientId);
    pump();
    var node = byClientId.get(clientId);
    if (node) {
      node.setAttribute('data-status', 'failed');
      node.title = 'Not sent: ' + (frame.message || frame.code);
      updateMeta(node);
    }
  }

  // ---- lead form (pre-chat / offline) --------------------------------------------------------------
  // Shown once per visitor: outside business hours, or before the first message when leadForm.preChat
  // is on. Posts to /api/widget/leads; the server validates and answers a code per refused field.
  function showLeadForm(frame) {
    var spec = state.config.leadForm || {};
    var doneKey = storeKey + ':lead';
    var due = frame.open_now === false || (spec.preChat && !frame.conversation_id);
    var done = false;
    try {
      done = localStorage.getItem(doneKey) === '1';
    } catch (e) {
      done = false; // storage blocked: ask again next time
    }
    if (!ui || !due || ui.lead || done) return;
    var node = el('form', 'sb-csat', 'lead-form');
    node.setAttribute('aria-label', 'Leave your details');
    node.appendChild(el('div', null, 'lead-question', 'Leave your details and we will get back to you.'));
    var inputs = {};
    var add = function (key, label, type, required) {
      var input = el('input', null, 'lead-' + key);
      input.type = type;
      input.placeholder = label + (required ? ' *' : '');
      input.setAttribute('aria-label', label);
      input.maxLength = 200;
      input.required = !!required;
      input.style.cssText = 'width:100%;box-sizing:border-box;font-size:16px;margin-bottom:6px';
      node.appendChild(input);
      inputs[key] = input;
    };
    add('name', 'Name', 'text', spec.requireName);
    add('email', 'E-mail', 'email', true);
    if (spec.askPhone || spec.requirePhone) add('phone', 'Phone', 'tel', spec.requirePhone);
    var custom = Array.isArray(spec.customFields) ? spec.customFields : [];
    custom.forEach(function (f) {
      add('f_' + f.key, f.label || f.key, 'text', f.required);
    });
    var problem = el('div', 'sb-banner', 'lead-error');
    problem.hidden = true;
    var submit = el('button', 'sb-send', 'lead-send', 'Send');
    submit.type = 'submit';
    node.appendChild(problem);
    node.appendChild(submit);
    node.addEventListener('submit', function (event) {
      event.preventDefault();
      var value = function (key) {
        return inputs[key] && inputs[key].value.trim() ? inputs[key].value.trim() : undefined;
      };
      var body = { product_key: productKey, visitor_token: state.visitorToken, name: value('name'), email: value('email'), phone: value('phone'), fields: {} };
      custom.forEach(function (f) {
        if (value('f_' + f.key)) body.fields[f.key] = value('f_' + f.key);
      });
      submit.disabled = true;
      fetch(base + '/api/widget/leads', { method: 'POST', mode: 'cors', credentials: 'omit', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
        .then(function (response) {
          return response.json().then(function (answer) {
            if (!response.ok) throw new Error((answer.error && answer.error.message) || 'please check the form');
            try {
              localStorage.setItem(doneKey, '1');
            } catch (e) {
              // storage blocked: the form may show again on the next visit
            }
            while (node.firstChild) node.removeChild(node.firstChild);
            node.appendChild(el('div', null, 'lead-thanks', 'Thanks! We will be in touch.'));
          });
        })
        .catch(function (err) {
          problem.textContent = err.message;
          problem.hidden = false;
        })
        .then(function () {
          submit.disabled = false;
        });
    });
    ui.lead = node;
    ui.panel.insertBefore(node, ui.notice.nextSibling);
  }

  // ---- sending -----------------------------------------------------------------------------------

  function findOutbox(clientId) {
    for (var i = 0; i < state.outbox.length; i++) if (state.outbox[i].id === clientId) return state.outbox[i];
    return null;
  }

  function dropFromOutbox(clientId) {
    var before = state.outbox.length;
    state.outbox = state.outbox.filter(function (item) {
      return item.id !== clientId;
    });
    if (state.outbox.length !== before) save();
  }

  /** Sends `text` (now, or once connected); returns its client_msg_id, or null if there is nothing to send. */
  function sendMessage(text) {
    if (!ui || typeof text !== 'string' || !text.trim()) return null;
    var chars = Array.from(text);
    if (chars.length > MAX_TEXT_CHARS) text = chars.slice(0, MAX_TEXT_CHARS).join('');
    if (state.outbox.length >= MAX_OUTBOX) return null;
    var item = { id: newId(), text: text };
    state.outbox.push(item);
    save();
    renderPending(item);
    stopTyping();
    pump();
    return item.id;
  }

  /** Sends unanswered messages in order, at most SEND_WINDOW on the wire at once. */
  function pump() {
    if (!welcomed || pauseTimer) return;
    for (var i = 0; i < state.outbox.length && inFlight.size < SEND_WINDOW; i++) {
      var item = state.outbox[i];
      if (inFlight.has(item.id)) continue;
      if (!sendFrame({ type: 'message', text: item.text, client_msg_id: item.id })) return;
      inFlight.add(item.id);
    }
  }

  var typingSent = false;
  var typingSentAt = 0;
  var typingIdleTimer = null;

  function onInput() {
    if (!ui.input.value) return stopTyping();
    var now = Date.now();
    if (state.conversationId && (!typingSent || now - typingSentAt > TYPING_THROTTLE_MS)) {
      if (sendFrame({ type: 'typing', is_typing: true })) {
        typingSent = true;
        typingSentAt = now;
      }
    }
    clearTimeout(typingIdleTimer);
    typingIdleTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function stopTyping() {
    clearTimeout(typingIdleTimer);
    if (typingSent) {
      typingSent = false;
      sendFrame({ type: 'typing', is_typing: false });
    }
  }

  // ---- start -------------------------------------------------------------------------------------

  /** The saved configuration over the defaults (nested settings key by key). */
  function withDefaults(config) {
    return merged(DEFAULTS, isObject(config) ? config : {});
  }

  function loadConfig() {
    var url = viaSetup
      ? base + '/api/load-config?siteId=' + encodeURIComponent(productKey)
      : base + '/api/widget/config?product_key=' + encodeURIComponent(productKey);
    return fetch(url, { mode: 'cors', credentials: 'omit' }).then(
      function (response) {
        if (response.status >= 400 && response.status < 500) {
          return response.text().then(function (body) {
            throw new Error('the product key was refused (' + response.status + '): ' + body);
          });
        }
        if (!response.ok) return DEFAULTS; // server trouble: show the widget with defaults
        return response.json().then(function (body) {
          return withDefaults(body && body.config);
        });
      },
      function () {
        return DEFAULTS; // offline: the socket's backoff takes over
      }
    );
  }

  function start() {
    restore();
    loadConfig().then(
      function (config) {
        state.config = config;
        // Not on this page (hideOnUrls / showOnUrls): no launcher, no socket.
        window.Switchboard.visible = shownHere(config);
        if (!window.Switchboard.visible) return;
        mount();
        setConnected(false);
        scheduleBehavior();
        window.addEventListener('online', reconnectNow);
        connect();
      },
      function (err) {
        warn(err.message);
      }
    );
  }

  /** The control panel's live preview: an open panel with a sample exchange, configs by postMessage. */
  function startPreview() {
    mount();
    state.everConnected = true;
    setConnected(true);
    open(false);
    var question = messageElement('visitor', 'Hi! Do you ship to Canada?');
    appendRow(rowOf(question));
    place(question, 1, Date.now() - 60000);
    question.setAttribute('data-read', 'true');
    updateMeta(question);
    var answer = messageElement('agent', 'We do! Orders arrive in 3–5 business days.');
    appendRow(rowOf(answer));
    place(answer, 2, Date.now());
    window.addEventListener('message', function (event) {
      var data = event.data;
      if (isObject(data) && data.type === 'switchboard:preview' && isObject(data.config)) {
        applyConfig(withDefaults(data.config));
      }
    });
  }

  function whenReady(run) {
    if (document.body) run();
    else document.addEventListener('DOMContentLoaded', run);
  }

  var started = false;

  /** Starts once for `key`: the script tag's, or the one `ChatWidget.setup` names. */
  function boot(key) {
    if (started) return;
    if (!KEY_RE.test(key || '')) return warn('the site id is missing or is not a chat_ key');
    started = true;
    productKey = key;
    window.Switchboard.productKey = key;
    whenReady(start);
  }

  window.Switchboard = {
    version: VERSION,
    productKey: productKey,
    open: function () {
      open(true);
    },
    close: function () {
      close(true);
    },
    toggle: toggle,
    send: sendMessage,
    isConnected: function () {
      return welcomed;
    },
    visible: undefined, // once the config is read: whether this page shows the widget
  };
  // The document's second embed: `ChatWidget.setup({ siteId: "chat_…" })`.
  window.ChatWidget = {
    setup: function (options) {
      viaSetup = true;
      boot(isObject(options) ? String(options.siteId || '').trim() : '');
    },
  };

  if (preview) whenReady(startPreview);
  else if (productKey) boot(productKey);
})();
