/*! Switchboard chat widget. Embed it with:
 *   <script src="https://YOUR-SWITCHBOARD/widget.js" data-product-key="chat_…" async></script>
 * Vanilla ES2017, no dependencies, no build step. Its only global is `window.Switchboard`.
 * Protocol: GET /api/widget/config, then the JSON frames of /ws/widget (see the README). */
(function () {
  'use strict';

  var VERSION = '1.0.0';
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
  var DEFAULTS = {
    title: 'Chat with us',
    greeting: 'Hi! How can we help?',
    primaryColor: '#2563eb',
    textColor: '#ffffff',
    position: 'bottom-right',
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

  var script = document.currentScript || document.querySelector('script[data-product-key]');
  if (!script) return;
  var productKey = (script.getAttribute('data-product-key') || '').trim();
  if (!/^chat_[A-Za-z0-9_-]+$/.test(productKey)) {
    warn('data-product-key is missing or is not a chat_ key');
    return;
  }
  if (window.Switchboard && window.Switchboard.productKey === productKey) return; // loaded twice
  var base;
  try {
    base = new URL(script.getAttribute('src') || '', location.href).origin;
  } catch (e) {
    base = location.origin;
  }
  var wsBase = base.replace(/^http/, 'ws'); // https → wss, http → ws
  var arrivedAt = new Date().toISOString();
  var storeKey = 'switchboard:' + productKey;

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

  var saved = loadSaved();
  var state = {
    config: DEFAULTS,
    visitorToken: TOKEN_RE.test(saved.visitorToken) ? saved.visitorToken : null,
    conversationId: null,
    status: null,
    outbox: (Array.isArray(saved.outbox) ? saved.outbox : [])
      .filter(function (m) {
        return m && typeof m.id === 'string' && typeof m.text === 'string' && m.id && m.text.trim();
      })
      .slice(-MAX_OUTBOX),
    // Seqs shown; `contiguous` is the highest n with 1..n all shown: what a reconnect resumes from.
    seen: new Set(),
    contiguous: 0,
    maxSeq: 0,
    readSeq: Number(saved.readSeq) > 0 ? Number(saved.readSeq) : 0, // shown with the panel open
    readSent: 0,
    unread: 0,
    open: false,
  };

  function save() {
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

  // ---- DOM ---------------------------------------------------------------------------------------

  var ui = null;
  var bySeq = new Map(); // seq → element
  var byClientId = new Map(); // client_msg_id → visitor message element

  var CSS = [
    ':host{all:initial !important}',
    '.sb-root,.sb-root *{box-sizing:border-box;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;font-size:14px;line-height:1.4;letter-spacing:normal;text-transform:none}',
    '.sb-bubble{all:unset;position:fixed;bottom:20px;right:20px;width:56px;height:56px;border-radius:50%;cursor:pointer;',
    'display:flex;align-items:center;justify-content:center;background:var(--sb-primary);color:var(--sb-text);',
    'box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483000}',
    '.sb-bubble:focus-visible{outline:3px solid rgba(0,0,0,.35);outline-offset:2px}',
    '.sb-left .sb-bubble{right:auto;left:20px}',
    '.sb-badge{position:absolute;top:-3px;right:-3px;min-width:19px;height:19px;padding:0 5px;border-radius:10px;',
    'background:#dc2626;color:#fff;font-size:11px;font-weight:700;line-height:19px;text-align:center}',
    '.sb-badge[hidden],.sb-panel[hidden],.sb-typing[hidden],.sb-banner[hidden],.sb-greeting[hidden]{display:none}',
    '.sb-panel{position:fixed;bottom:88px;right:20px;width:350px;max-width:calc(100vw - 32px);height:500px;',
    'max-height:calc(100vh - 110px);display:flex;flex-direction:column;background:#fff;color:#111827;border-radius:12px;',
    'box-shadow:0 12px 40px rgba(0,0,0,.25);overflow:hidden;z-index:2147483000}',
    '.sb-left .sb-panel{right:auto;left:20px}',
    '.sb-header{display:flex;align-items:center;justify-content:space-between;padding:12px 14px;background:var(--sb-primary);color:var(--sb-text)}',
    '.sb-title{font-weight:600;font-size:15px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}',
    '.sb-close{all:unset;cursor:pointer;color:inherit;font-size:20px;line-height:1;padding:0 4px}',
    '.sb-banner{padding:6px 14px;background:#fef3c7;color:#92400e;font-size:12px}',
    '.sb-greeting{padding:10px 14px;background:#f8fafc;color:#374151;border-bottom:1px solid #e5e7eb;white-space:pre-wrap}',
    '.sb-messages{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:6px;background:#f8fafc}',
    '.sb-msg{max-width:80%;padding:8px 11px;border-radius:14px;white-space:pre-wrap;overflow-wrap:anywhere}',
    '.sb-msg[data-from="visitor"]{align-self:flex-end;background:var(--sb-primary);color:var(--sb-text);border-bottom-right-radius:4px}',
    '.sb-msg[data-from="agent"],.sb-msg[data-from="system"]{align-self:flex-start;background:#e5e7eb;color:#111827;border-bottom-left-radius:4px}',
    '.sb-msg[data-from="system"]{font-style:italic}',
    '.sb-msg[data-status="pending"]{opacity:.6}',
    '.sb-msg[data-status="failed"]{background:#fee2e2;color:#991b1b}',
    '.sb-typing{padding:2px 14px 6px;background:#f8fafc;color:#6b7280;font-size:12px;font-style:italic}',
    '.sb-csat{padding:10px 14px;border-top:1px solid #e5e7eb;font-size:13px}',
    '.sb-csat-stars{display:flex;gap:6px;margin:6px 0}',
    '.sb-csat-stars button{min-width:44px;min-height:44px;border:1px solid #d1d5db;border-radius:8px;background:#fff;cursor:pointer;font-size:16px}',
    '.sb-csat-stars button[aria-pressed="true"]{background:var(--sb-primary);color:var(--sb-text);border-color:var(--sb-primary)}',
    '.sb-csat textarea{width:100%;box-sizing:border-box;font:inherit;font-size:16px;margin-bottom:6px}',
    '.sb-form{display:flex;border-top:1px solid #e5e7eb;background:#fff}',
    '.sb-input{all:unset;flex:1;padding:12px;color:#111827;min-width:0}',
    '.sb-send{all:unset;cursor:pointer;padding:0 16px;font-weight:600;background:var(--sb-primary);color:var(--sb-text)}',
    '.sb-send:focus-visible,.sb-close:focus-visible{outline:2px solid currentColor;outline-offset:-4px}',
  ].join('');

  function el(tag, className, sb, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (sb) node.setAttribute('data-sb', sb);
    if (text != null) node.textContent = text;
    return node;
  }

  function chatIcon() {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('width', '26');
    svg.setAttribute('height', '26');
    svg.setAttribute('aria-hidden', 'true');
    var path = document.createElementNS(ns, 'path');
    path.setAttribute('fill', 'currentColor');
    path.setAttribute('d', 'M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8.4L4 21.5V18a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z');
    svg.appendChild(path);
    return svg;
  }

  function mount() {
    var config = state.config;
    var host = el('div', null, 'host');
    host.id = 'switchboard-widget';
    var root = host.attachShadow ? host.attachShadow({ mode: 'open' }) : host;
    var style = el('style', null, null, CSS);
    var wrap = el('div', 'sb-root' + (config.position === 'bottom-left' ? ' sb-left' : ''), 'root');
    wrap.style.setProperty('--sb-primary', COLOR_RE.test(config.primaryColor) ? config.primaryColor : DEFAULTS.primaryColor);
    wrap.style.setProperty('--sb-text', COLOR_RE.test(config.textColor) ? config.textColor : DEFAULTS.textColor);

    var bubble = el('button', 'sb-bubble', 'bubble');
    bubble.type = 'button';
    bubble.setAttribute('aria-label', 'Open chat: ' + config.title);
    bubble.setAttribute('aria-expanded', 'false');
    bubble.appendChild(chatIcon());
    var badge = el('span', 'sb-badge', 'badge');
    badge.hidden = true;
    bubble.appendChild(badge);

    var panel = el('div', 'sb-panel', 'panel');
    panel.hidden = true;
    panel.setAttribute('role', 'dialog');
    panel.setAttribute('aria-label', config.title);
    var header = el('div', 'sb-header');
    var title = el('div', 'sb-title', 'title', config.title);
    var closeButton = el('button', 'sb-close', 'close', '\u00d7');
    closeButton.type = 'button';
    closeButton.setAttribute('aria-label', 'Close chat');
    header.appendChild(title);
    header.appendChild(closeButton);
    var banner = el('div', 'sb-banner', 'connection', 'Connecting…');
    var greeting = el('div', 'sb-greeting', 'greeting', config.greeting);
    greeting.hidden = !config.greeting;
    // Out of hours (or nobody online): what the team wants visitors to know.
    var notice = el('div', 'sb-banner', 'availability');
    notice.hidden = true;
    var messages = el('div', 'sb-messages', 'messages');
    messages.setAttribute('role', 'log');
    messages.setAttribute('aria-live', 'polite');
    var typing = el('div', 'sb-typing', 'typing', 'Agent is typing…');
    typing.hidden = true;
    var form = el('form', 'sb-form', 'form');
    var input = el('input', 'sb-input', 'input');
    input.type = 'text';
    input.placeholder = 'Type a message…';
    input.maxLength = MAX_TEXT_CHARS;
    input.autocomplete = 'off';
    input.setAttribute('aria-label', 'Message');
    var send = el('button', 'sb-send', 'send', 'Send');
    send.type = 'submit';
    form.appendChild(input);
    form.appendChild(send);
    var csat = csatPrompt();
    [header, banner, greeting, notice, messages, typing, csat.node, form].forEach(function (n) {
      panel.appendChild(n);
    });
    wrap.appendChild(panel);
    wrap.appendChild(bubble);
    root.appendChild(style);
    root.appendChild(wrap);
    document.body.appendChild(host);

    ui = { host: host, bubble: bubble, badge: badge, panel: panel, banner: banner, messages: messages, typing: typing, input: input, csat: csat, notice: notice };

    bubble.addEventListener('click', toggle);
    closeButton.addEventListener('click', close);
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      if (sendMessage(input.value)) input.value = '';
      input.focus();
    });
    input.addEventListener('input', onInput);
    panel.addEventListener('keydown', function (event) {
      if (event.key === 'Escape') close();
    });
    document.addEventListener('visibilitychange', maybeSendRead);

    // Messages written but never acknowledged (the page closed first) are shown and resent.
    state.outbox.forEach(function (item) {
      renderPending(item);
    });
  }

  function scrollToEnd() {
    if (ui) ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  function messageElement(from, text) {
    var node = el('div', 'sb-msg', 'message', text);
    node.setAttribute('data-from', from === 'agent' || from === 'system' ? from : 'visitor');
    return node;
  }

  function renderPending(item) {
    var node = messageElement('visitor', item.text);
    node.setAttribute('data-status', 'pending');
    node.setAttribute('data-client-msg-id', item.id);
    byClientId.set(item.id, node);
    ui.messages.appendChild(node); // pending messages stay below every stored one
    scrollToEnd();
    return node;
  }

  /** Puts a stored message at its place: in seq order, above the pending ones. */
  function place(node, seq, createdAt) {
    node.setAttribute('data-seq', String(seq));
    node.removeAttribute('data-status');
    if (node.getAttribute('data-from') === 'visitor') node.setAttribute('data-status', 'sent');
    if (createdAt) node.title = new Date(createdAt).toLocaleString();
    bySeq.set(seq, node);
    if (node.parentNode) node.parentNode.removeChild(node);
    var before = null;
    for (var n = ui.messages.lastElementChild; n; n = n.previousElementSibling) {
      if (n.hasAttribute('data-seq') && Number(n.getAttribute('data-seq')) < seq) break;
      before = n;
    }
    ui.messages.insertBefore(node, before);
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
      if (node.parentNode) node.parentNode.removeChild(node);
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

  function setBadge() {
    if (!ui) return;
    ui.badge.textContent = state.unread > 9 ? '9+' : String(state.unread);
    ui.badge.hidden = state.unread === 0;
  }

  var agentTypingTimer = null;
  function setAgentTyping(on) {
    clearTimeout(agentTypingTimer);
    if (!ui) return;
    ui.typing.hidden = !on;
    if (on) agentTypingTimer = setTimeout(setAgentTyping, AGENT_TYPING_MS, false);
  }

  function setConnected(connected) {
    if (!ui) return;
    ui.banner.hidden = connected;
    ui.banner.textContent = connected ? '' : state.everConnected ? 'Reconnecting…' : 'Connecting…';
    ui.host.setAttribute('data-connected', connected ? 'true' : 'false');
  }

  function open() {
    if (!ui) return;
    state.open = true;
    ui.panel.hidden = false;
    ui.bubble.setAttribute('aria-expanded', 'true');
    state.unread = 0;
    setBadge();
    scrollToEnd();
    ui.input.focus();
    maybeSendRead();
  }

  function close() {
    if (!ui) return;
    state.open = false;
    ui.panel.hidden = true;
    ui.bubble.setAttribute('aria-expanded', 'false');
    stopTyping();
    ui.bubble.focus();
  }

  function toggle() {
    if (state.open) close();
    else open();
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
        if (frame.from === 'agent') markReadByAgent(Number(frame.seq));
        return;
      case 'status':
        return setStatus(frame.status, frame.rated);
      case 'csat_saved':
        return csatDone();
      case 'error':
        return onError(frame);
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
      if (node && node.parentNode) node.parentNode.removeChild(node); // shown already, via replay
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
    }
  }

  function setStatus(status, rated) {
    state.status = status === 'closed' ? 'closed' : 'open';
    if (ui) ui.host.setAttribute('data-status', state.status);
    // A closed conversation the visitor has not rated asks once for 1–5 and a comment.
    if (ui) ui.csat.node.hidden = !(state.status === 'closed' && rated === false);
  }

  // The satisfaction prompt: five 44 px buttons (aria-pressed), an optional comment, a send button.
  function csatPrompt() {
    var node = el('div', 'sb-csat', 'csat');
    node.hidden = true;
    node.setAttribute('role', 'group');
    node.setAttribute('aria-label', 'Rate this conversation');
    node.appendChild(el('div', null, 'csat-question', 'How did we do?'));
    var stars = el('div', 'sb-csat-stars', 'csat-stars');
    var chosen = 0;
    var buttons = [1, 2, 3, 4, 5].map(function (n) {
      var b = el('button', null, 'csat-' + n, String(n) + '\u2605');
      b.type = 'button';
      b.setAttribute('aria-label', n + ' of 5');
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
    var submit = el('button', 'sb-send', 'csat-send', 'Send rating');
    submit.type = 'button';
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

  function showAvailability(frame) {
    if (!ui) return;
    var text = '';
    if (frame.open_now === false) text = frame.offline_message || 'We are closed right now. Leave a message and we will reply when we are back.';
    else if (frame.agents_available === false) text = 'No one is online right now; we will reply as soon as we can.';
    ui.notice.textContent = text;
    ui.notice.hidden = !text;
  }

  function csatDone() {
    if (!ui) return;
    var node = ui.csat.node;
    while (node.firstChild) node.removeChild(node.firstChild);
    node.appendChild(el('div', null, 'csat-thanks', 'Thank you for your feedback!'));
    node.setAttribute('aria-live', 'polite');
  }

  function markReadByAgent(seq) {
    if (!Number.isInteger(seq)) return;
    bySeq.forEach(function (node, s) {
      if (s <= seq && node.getAttribute('data-from') === 'visitor') node.setAttribute('data-read', 'true');
    });
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

  window.Switchboard = {
    version: VERSION,
    productKey: productKey,
    open: open,
    close: close,
    toggle: toggle,
    send: sendMessage,
    isConnected: function () {
      return welcomed;
    },
  };

  function loadConfig() {
    var url = base + '/api/widget/config?product_key=' + encodeURIComponent(productKey);
    return fetch(url, { mode: 'cors', credentials: 'omit' }).then(
      function (response) {
        if (response.status >= 400 && response.status < 500) {
          return response.text().then(function (body) {
            throw new Error('the product key was refused (' + response.status + '): ' + body);
          });
        }
        if (!response.ok) return DEFAULTS; // server trouble: show the widget with defaults
        return response.json().then(function (body) {
          var config = body && body.config && typeof body.config === 'object' ? body.config : {};
          return Object.assign({}, DEFAULTS, config, { utm: Object.assign({}, DEFAULTS.utm, config.utm || {}) });
        });
      },
      function () {
        return DEFAULTS; // offline: the socket's backoff takes over
      }
    );
  }

  function start() {
    loadConfig().then(
      function (config) {
        state.config = config;
        mount();
        setConnected(false);
        window.addEventListener('online', reconnectNow);
        connect();
      },
      function (err) {
        warn(err.message);
      }
    );
  }

  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start);
})();
