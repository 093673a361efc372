#!/usr/bin/env node
// The embeddable widget (assets/widget.js) in a real headless Chromium, end to end:
// a tenant is set up over the API, a host page on ANOTHER origin embeds the snippet, a visitor
// chats from the browser, an agent answers over HTTP, and a reload shows the history once. Then the
// team's commands (open_chat, show_notification, update_settings), a saved config reaching the live
// widget, read ticks, the unread count in the launcher's name, the closed state with its rating,
// dark mode, a 375 px phone, behaviour settings, the `ChatWidget.setup` embed and the preview mode.
// Screenshots go to $SCREENSHOT_DIR (default target/screenshots).
//
//   node tests/browser/widget_e2e.mjs [SWITCHBOARD_URL] [ADMIN_TOKEN]
//   (or the env vars SWITCHBOARD_URL and ADMIN_TOKEN; CHROMIUM_PATH overrides /usr/bin/chromium)
//
// Exits 0 on success, 1 with a reason on any failure; the whole run is bounded (< 60 s).
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { apiClient, check, closeAll } from './harness.mjs';

const serverUrl = (process.argv[2] || process.env.SWITCHBOARD_URL || '').replace(/\/+$/, '');
const adminToken = process.argv[3] || process.env.ADMIN_TOKEN || '';
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
// The host page lives on its own origin: this name, mapped to 127.0.0.1 inside Chromium only.
// Plain http on a non-localhost name is also not a "secure context", so the widget's
// crypto.randomUUID fallback is what runs here.
const PAGE_HOST = 'shop.example';
const OVERALL_MS = 80_000;
const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR || 'target/screenshots';
const STEP_MS = 10_000;
const PASSWORD = 'SecurePass123';
const E2E_CONFIG = {
  title: 'E2E Support',
  greeting: 'Ask us anything.',
  primaryColor: '#0f766e',
  textColor: '#ffffff',
  position: 'bottom-left',
  utm: {
    captureSource: true,
    captureMedium: true,
    captureCampaign: true,
    captureTerm: false,
    captureContent: false,
    captureCustom: true,
    customParams: ['gclid'],
    appendPageContext: true,
    appendTimestamp: true,
  },
};
const VISITOR_TEXT = 'Hello from the browser';
const AGENT_TEXT = 'Hi from the agent <b>not bold</b>';

const started = Date.now();
const timings = [];
let lastMark = started;
function mark(step) {
  const now = Date.now();
  timings.push(`${step}: ${now - lastMark} ms`);
  lastMark = now;
}

let browser = null;
let pageServer = null;
const browserLog = [];

async function cleanup() {
  await closeAll(browser, pageServer);
}

async function fail(message) {
  console.error(`widget e2e FAILED after ${Date.now() - started} ms: ${message}`);
  if (timings.length) console.error(`steps done: ${timings.join(', ')}`);
  if (browserLog.length) console.error(`browser log:\n  ${browserLog.slice(-40).join('\n  ')}`);
  await cleanup();
  process.exit(1);
}

const overall = setTimeout(() => fail(`timed out after ${OVERALL_MS} ms`), OVERALL_MS);

const api = apiClient(serverUrl, STEP_MS);

/** The host page: a foreign site with hostile CSS, embedding the snippet the server handed out.
 *  `/setup` embeds with the document's `ChatWidget.setup`, `/preview` is the control panel's preview. */
function startPageServer(snippet, productKey) {
  const pages = {
    '/setup': `<script src="${serverUrl}/widget.js"></script><script>ChatWidget.setup({ siteId: "${productKey}" });</script>`,
    '/preview': `<script src="${serverUrl}/widget.js" data-preview="true"></script>`,
  };
  const page = (url) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Acme shop</title>
<style>
  /* The widget lives in a shadow root, so none of this may reach it. */
  button, input { display: none !important; }
  * { color: red !important; font-size: 40px !important; }
</style></head>
<body><h1>Acme shop</h1><p>Products and prices.</p><div style="height:3000px"></div>
${pages[new URL(url, 'http://x').pathname] || snippet}
</body></html>`;
  return new Promise((resolve, reject) => {
    const server = http.createServer((req, res) => {
      if (req.url.startsWith('/favicon')) {
        res.writeHead(204).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(page(req.url));
    });
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/** Every widget message as {from, seq, text, status}, in DOM order (locators pierce the shadow root). */
function shownMessages(page) {
  return page.locator('[data-sb="message"]').evaluateAll((nodes) =>
    nodes.map((n) => ({
      from: n.getAttribute('data-from'),
      seq: n.getAttribute('data-seq'),
      text: n.textContent,
      status: n.getAttribute('data-status'),
    }))
  );
}

async function main() {
  check(/^https?:\/\//.test(serverUrl), 'pass the server URL (argv[2] or SWITCHBOARD_URL)');
  check(adminToken, 'pass the admin token (argv[3] or ADMIN_TOKEN)');

  // Tenant: license → register → login → configure the chatbot.
  const email = `e2e-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@example.com`;
  const license = await api('POST', '/api/admin/licenses', {
    token: adminToken,
    body: { email, products: ['chatbot'] },
    expect: 201,
  });
  check(license?.license_key, `no license_key in ${JSON.stringify(license)}`);
  await api('POST', '/api/auth/register', {
    body: { email, password: PASSWORD, license_key: license.license_key },
    expect: 201,
  });
  const { token } = await api('POST', '/api/auth/login', { body: { email, password: PASSWORD } });
  check(token, 'login returned no token');
  const configured = await api('POST', '/api/products/chatbot/configure', {
    token,
    body: { config: E2E_CONFIG },
    expect: [200, 201],
  });
  const productKey = configured?.product_key;
  check(/^chat_/.test(productKey || ''), `configure returned no chat_ key: ${JSON.stringify(configured)}`);
  const snippet =
    configured.embed_snippet || `<script src="${serverUrl}/widget.js" data-product-key="${productKey}" async></script>`;
  check(
    snippet.includes(`${serverUrl}/widget.js`) && snippet.includes(productKey),
    `unexpected embed snippet: ${snippet}`
  );
  mark('tenant set up');

  pageServer = await startPageServer(snippet, productKey);
  const pageOrigin = `http://${PAGE_HOST}:${pageServer.address().port}`;
  check(new URL(pageOrigin).origin !== new URL(serverUrl).origin, 'the host page must be on another origin');

  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    timeout: STEP_MS,
    args: [
      '--no-sandbox',
      '--headless',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--host-resolver-rules=MAP ${PAGE_HOST} 127.0.0.1`,
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
  context.setDefaultTimeout(STEP_MS);
  const page = await context.newPage();
  const pageErrors = [];
  page.on('console', (m) => browserLog.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => {
    pageErrors.push(e.message);
    browserLog.push(`pageerror: ${e.message}`);
  });
  page.on('requestfailed', (r) => browserLog.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('websocket', (socket) => {
    browserLog.push(`websocket open: ${socket.url().replace(/visitor_token=[0-9a-f]+/, 'visitor_token=…')}`);
    socket.on('framesent', (f) => browserLog.push(`  ws → ${String(f.payload).slice(0, 300)}`));
    socket.on('framereceived', (f) => browserLog.push(`  ws ← ${String(f.payload).slice(0, 300)}`));
    socket.on('close', () => browserLog.push('websocket closed'));
  });
  mark('browser launched');

  // Visitor: arrives from a campaign, opens the widget and says hello.
  await page.goto(`${pageOrigin}/pricing?utm_source=e2e&utm_campaign=launch&gclid=g-123`);
  const bubble = page.locator('[data-sb="bubble"]');
  await bubble.click();
  const panel = page.locator('[data-sb="panel"]');
  await panel.waitFor({ state: 'visible' });
  const title = await page.locator('[data-sb="title"]').textContent();
  check(title === 'E2E Support', `panel title is ${JSON.stringify(title)}, expected the configured one`);
  const greeting = await page.locator('[data-sb="greeting"]').textContent();
  check(greeting === 'Ask us anything.', `greeting is ${JSON.stringify(greeting)}`);
  const bubbleBox = await bubble.boundingBox();
  const viewport = page.viewportSize();
  check(
    bubbleBox && viewport && bubbleBox.x < viewport.width / 2,
    `position bottom-left not applied (bubble at ${JSON.stringify(bubbleBox)})`
  );
  await page.locator('[data-sb="input"]').fill(VISITOR_TEXT);
  await page.locator('[data-sb="send"]').click();
  const mine = page.locator('[data-sb="message"][data-from="visitor"]', { hasText: VISITOR_TEXT });
  await page.locator('[data-sb="message"][data-from="visitor"][data-seq]', { hasText: VISITOR_TEXT }).waitFor();
  check((await mine.getAttribute('data-seq')) === '1', `the visitor message has seq ${await mine.getAttribute('data-seq')}`);
  check((await mine.getAttribute('data-status')) === 'sent', 'the acked message is not marked sent');
  mark('visitor message acked');

  // Agent: sees the conversation with its campaign, and answers.
  const { conversations } = await api('GET', '/api/products/chatbot/conversations', { token });
  check(conversations?.length === 1, `expected 1 conversation, got ${JSON.stringify(conversations)}`);
  const conversation = conversations[0];
  const meta = conversation.metadata || {};
  check(meta.utm_source === 'e2e', `metadata.utm_source is ${JSON.stringify(meta.utm_source)}; metadata: ${JSON.stringify(meta)}`);
  check(meta.utm_campaign === 'launch', `metadata.utm_campaign: ${JSON.stringify(meta)}`);
  check(meta.gclid === 'g-123', `metadata.gclid (custom param): ${JSON.stringify(meta)}`);
  check(meta.page_host?.startsWith(PAGE_HOST), `metadata.page_host: ${JSON.stringify(meta)}`);
  check(typeof meta.timestamp === 'string', `metadata.timestamp: ${JSON.stringify(meta)}`);
  check(conversation.last_message?.text === VISITOR_TEXT, `last_message: ${JSON.stringify(conversation.last_message)}`);
  const reply = await api('POST', `/api/conversations/${conversation.id}/messages`, {
    token,
    body: { text: AGENT_TEXT },
    expect: 201,
  });
  const agentMessage = page.locator('[data-sb="message"][data-from="agent"]', { hasText: AGENT_TEXT });
  await agentMessage.waitFor();
  check(
    (await agentMessage.getAttribute('data-seq')) === String(reply?.message?.seq ?? 2),
    `the agent message has seq ${await agentMessage.getAttribute('data-seq')}`
  );
  check(
    (await agentMessage.locator('b').count()) === 0,
    'agent text was rendered as HTML (the widget must use textContent)'
  );
  mark('agent reply shown live');

  // Reload: the same visitor resumes, and the history is shown once, in order.
  const expected = [
    { from: 'visitor', seq: '1', text: VISITOR_TEXT, status: 'sent' },
    { from: 'agent', seq: '2', text: AGENT_TEXT, status: null },
  ];
  await page.reload();
  await bubble.click();
  await panel.waitFor({ state: 'visible' });
  await agentMessage.waitFor();
  await page.locator('[data-sb="host"][data-connected="true"]').waitFor({ state: 'attached' });
  // A round trip through the server after the replay: anything still to arrive has arrived.
  await page.waitForTimeout(300);
  const shown = await shownMessages(page);
  check(
    JSON.stringify(shown) === JSON.stringify(expected),
    `after reload the widget shows ${JSON.stringify(shown)}, expected ${JSON.stringify(expected)}`
  );
  const after = await api('GET', '/api/products/chatbot/conversations', { token });
  check(after.conversations?.length === 1, 'the reload started a second conversation');
  mark('history after reload shown once');

  await commandsAndPolish({ page, token, productKey, conversation, pageOrigin });
  await phoneAndDarkMode({ token, pageOrigin });
  await behaviourAndEmbeds({ token, productKey, pageOrigin });

  // Lead capture: with a pre-chat form configured, a new visitor leaves their details before chatting;
  // the server's refusal is shown on the form, then the stored lead is on their conversation.
  await api('POST', '/api/products/chatbot/configure', {
    token,
    body: {
      config: {
        title: 'E2E Support',
        leadForm: { preChat: true, requireName: true, customFields: [{ key: 'company', label: 'Company', required: true }] },
      },
    },
    expect: [200, 201],
  });
  const leadContext = await browser.newContext(); // a new visitor: fresh storage
  leadContext.setDefaultTimeout(STEP_MS);
  const leadPage = await leadContext.newPage();
  leadPage.on('pageerror', (e) => pageErrors.push(e.message));
  await leadPage.goto(`${pageOrigin}/contact`);
  await leadPage.locator('[data-sb="bubble"]').click();
  await leadPage.locator('[data-sb="lead-form"]').waitFor({ state: 'visible' });
  await leadPage.locator('[data-sb="lead-name"]').fill('Ada Lovelace');
  await leadPage.locator('[data-sb="lead-f_company"]').fill('Analytical Engines');
  await leadPage.locator('[data-sb="lead-email"]').fill('ada@localhost'); // the browser takes it; the server does not
  await leadPage.locator('[data-sb="lead-send"]').click();
  await leadPage.locator('[data-sb="lead-error"]').waitFor({ state: 'visible' });
  await leadPage.locator('[data-sb="lead-email"]').fill('Ada@Example.com');
  await leadPage.locator('[data-sb="lead-send"]').click();
  await leadPage.locator('[data-sb="lead-thanks"]').waitFor();
  const withLead = (await api('GET', '/api/products/chatbot/conversations', { token })).conversations || [];
  const lead = withLead.find((c) => c.lead)?.lead;
  check(
    lead?.email === 'ada@example.com' && lead?.name === 'Ada Lovelace' && lead?.fields?.company === 'Analytical Engines',
    `the lead was not stored as sent: ${JSON.stringify(withLead)}`
  );
  mark('lead form stored');

  check(pageErrors.length === 0, `the page threw: ${pageErrors.join('; ')}`);
  await cleanup();
  clearTimeout(overall);
  console.log(`widget e2e passed in ${Date.now() - started} ms (${timings.join(', ')})`);
  process.exit(0); // idle keep-alive sockets would otherwise hold the process open for seconds
}

/** Saves a screenshot under SCREENSHOT_DIR (a test artefact, never committed). */
async function shot(page, name) {
  // Entry animations finished: the picture shows where things rest.
  await page.locator('[data-sb="root"]').evaluate((n) => Promise.all(n.getAnimations({ subtree: true }).map((a) => a.finished)));
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `widget-${name}.png`) });
}

/** A new page in its own context (its own visitor), with the browser log wired up. */
async function freshPage(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light', ...options });
  context.setDefaultTimeout(STEP_MS);
  const page = await context.newPage();
  page.on('console', (m) => browserLog.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => browserLog.push(`pageerror: ${e.message}`));
  return page;
}

async function command(token, body, delivered = 1) {
  const answer = await api('POST', '/api/widget/commands', { token, body });
  check(answer?.delivered === delivered, `${body.command} reached ${JSON.stringify(answer)}, expected ${delivered} socket(s)`);
}

async function saveConfig(token, config) {
  await api('POST', '/api/products/chatbot/configure', { token, body: { config }, expect: 200 });
}

async function backgroundOf(locator) {
  return locator.evaluate((node) => getComputedStyle(node).backgroundColor);
}

const DARK_SURFACE = 'rgb(29, 32, 39)';

async function commandsAndPolish({ page, token, conversation }) {
  const sb = (name) => page.locator(`[data-sb="${name}"]`);
  const id = conversation.id;
  await shot(page, 'desktop-conversation');

  // The agent reads: the visitor's message shows two ticks, named "Read".
  await api('POST', `/api/conversations/${id}/read`, { token, body: { seq: 2 }, expect: 204 });
  await page.locator('[data-sb="tick"][aria-label="Read"]').waitFor();
  mark('read tick shown');

  // close_chat closes the panel; a reply then counts in the launcher's accessible name.
  await command(token, { command: 'close_chat' });
  await sb('panel').waitFor({ state: 'hidden' });
  await api('POST', `/api/conversations/${id}/messages`, { token, body: { text: 'Anything else?' }, expect: 201 });
  await page.locator('[data-sb="bubble"][aria-label*="1 unread message"]').waitFor({ state: 'attached' });
  mark('close_chat and unread count');

  await command(token, { command: 'show_notification', data: { text: 'Free shipping today only', priority: 'high' } });
  await sb('notification').waitFor();
  check((await sb('notification-text').textContent()) === 'Free shipping today only', 'notification text');
  check((await sb('notification').getAttribute('role')) === 'alert', 'a high-priority notice is an alert');
  await shot(page, 'desktop-notification');

  await command(token, { command: 'open_chat', data: { message: 'Can I help you find a size?' } });
  await sb('panel').waitFor();
  await page.locator('[data-sb="prompt"]', { hasText: 'Can I help you find a size?' }).waitFor();
  check(await sb('notification').isHidden(), 'opening the chat dismisses the notice');
  await command(token, { command: 'update_settings', data: { title: 'Live title' } });
  await page.locator('[data-sb="title"]', { hasText: 'Live title' }).waitFor();
  mark('open_chat, show_notification, update_settings');

  // Saving the config reaches the live widget without a reload.
  await saveConfig(token, { ...E2E_CONFIG, agentName: 'Ana Lima', replyTime: 'hours', theme: 'dark' });
  await page.locator('[data-sb="title"]', { hasText: 'Ana Lima' }).waitFor();
  check((await sb('root').getAttribute('data-theme')) === 'dark', 'the pushed theme applies');
  check((await backgroundOf(sb('panel'))) === DARK_SURFACE, `dark panel is ${await backgroundOf(sb('panel'))}`);
  const subtitle = await sb('subtitle-text').textContent();
  check(/away/i.test(subtitle), `nobody is online, so the subtitle says so: ${subtitle}`);
  await page.locator('[data-sb="panel"] [data-sb="avatar"]', { hasText: 'AL' }).first().waitFor();
  await shot(page, 'desktop-dark');
  mark('config pushed live');

  // The agent closes: a visible closed state and the rating prompt.
  await api('POST', `/api/conversations/${id}/close`, { token, body: {} });
  await sb('closed').waitFor();
  await sb('csat').waitFor();
  await shot(page, 'desktop-closed');
  await sb('csat-4').click();
  await sb('csat-send').click();
  await sb('csat-thanks').waitFor();
  mark('closed state and rating');
}

async function phoneAndDarkMode({ token, pageOrigin }) {
  await saveConfig(token, { ...E2E_CONFIG, agentName: 'Ana Lima', theme: 'auto' });
  const page = await freshPage({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true, colorScheme: 'dark' });
  const sb = (name) => page.locator(`[data-sb="${name}"]`);
  await page.goto(`${pageOrigin}/pricing`);
  await sb('host').and(page.locator('[data-connected="true"]')).waitFor({ state: 'attached' });
  await shot(page, 'phone-closed');
  await sb('bubble').tap();
  await sb('panel').waitFor();
  await sb('panel').evaluate((n) => Promise.all(n.getAnimations().map((a) => a.finished)));
  const box = await sb('panel').boundingBox();
  check(box.x === 0 && box.y === 0 && box.width === 375 && box.height === 812, `full screen on a phone: ${JSON.stringify(box)}`);
  check(await sb('bubble').isHidden(), 'the panel covers the launcher; its own close button replaces it');
  const fontSize = await sb('input').evaluate((n) => getComputedStyle(n).fontSize);
  check(fontSize === '16px', `inputs are 16 px (no zoom on focus), not ${fontSize}`);
  check((await backgroundOf(sb('panel'))) === DARK_SURFACE, 'theme auto follows prefers-color-scheme: dark');
  for (const target of await page.locator('[data-sb="panel"] button:visible').all()) {
    const b = await target.boundingBox();
    check(b.width >= 44 && b.height >= 44, `touch target ${await target.getAttribute('aria-label')} is ${b.width}×${b.height}`);
  }
  await sb('emoji').tap();
  await page.locator('[data-sb="emoji-picker"] button').first().tap();
  await sb('input').pressSequentially(' on my phone');
  await sb('send').tap();
  await page.locator('[data-sb="message"][data-seq]', { hasText: 'on my phone' }).waitFor();
  check((await page.locator('[data-sb="message"][data-seq]').first().textContent()).startsWith('😀'), 'emoji inserted');
  await shot(page, 'phone-dark');
  await page.context().close();
  mark('phone and dark mode');
}

async function behaviourAndEmbeds({ token, productKey, pageOrigin }) {
  const behavior = { hideOnUrls: ['/hidden*'], autoOpenAfterSeconds: 1, frequencyCapHours: 24 };
  await saveConfig(token, { ...E2E_CONFIG, agentName: 'Ana Lima', behavior });
  const page = await freshPage();
  await page.goto(`${pageOrigin}/hidden/page`);
  await page.waitForFunction(() => window.Switchboard && window.Switchboard.visible === false);
  check((await page.locator('#switchboard-widget').count()) === 0, 'hidden on /hidden*');
  await page.goto(`${pageOrigin}/pricing`);
  await page.locator('[data-sb="panel"]').waitFor(); // opened by itself after 1 s
  await page.reload();
  await page.waitForFunction(() => window.Switchboard && window.Switchboard.visible === true);
  await page.waitForTimeout(1500); // past the auto-open delay: the cap keeps it closed this time
  check(await page.locator('[data-sb="panel"]').isHidden(), 'auto-open is capped per visitor');
  mark('behaviour: hide by URL, auto-open, frequency cap');

  const loaded = page.waitForResponse((r) => r.url().includes(`/api/load-config?siteId=${productKey}`));
  await page.goto(`${pageOrigin}/setup`);
  check((await loaded).ok(), 'ChatWidget.setup loads /api/load-config');
  await page.locator('[data-sb="host"][data-connected="true"]').waitFor({ state: 'attached' });
  mark('ChatWidget.setup embed');

  const sockets = [];
  page.on('websocket', (s) => sockets.push(s.url()));
  await page.goto(`${pageOrigin}/preview`);
  await page.locator('[data-sb="panel"]').waitFor();
  check((await page.locator('[data-sb="message"]').count()) === 2, 'the preview shows a sample exchange');
  await page.evaluate(() =>
    window.postMessage({ type: 'switchboard:preview', config: { title: 'Preview', agentName: 'Sam', primaryColor: '#be185d' } }, '*')
  );
  await page.locator('[data-sb="title"]', { hasText: 'Sam' }).waitFor();
  check(sockets.length === 0, `the preview opened sockets: ${sockets.join(', ')}`);
  await shot(page, 'preview');
  await page.context().close();
  mark('preview mode');
}

main().catch((err) => fail(err?.stack || String(err)));
