#!/usr/bin/env node
// The embeddable widget (assets/widget.js) in a real headless Chromium, end to end:
// a tenant is set up over the API, a host page on ANOTHER origin embeds the snippet, a visitor
// chats from the browser, an agent answers over HTTP, and a reload shows the history once.
//
//   node tests/browser/widget_e2e.mjs [SWITCHBOARD_URL] [ADMIN_TOKEN]
//   (or the env vars SWITCHBOARD_URL and ADMIN_TOKEN; CHROMIUM_PATH overrides /usr/bin/chromium)
//
// Exits 0 on success, 1 with a reason on any failure; the whole run is bounded (< 60 s).
import http from 'node:http';
import { chromium } from 'playwright-core';

const serverUrl = (process.argv[2] || process.env.SWITCHBOARD_URL || '').replace(/\/+$/, '');
const adminToken = process.argv[3] || process.env.ADMIN_TOKEN || '';
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
// The host page lives on its own origin: this name, mapped to 127.0.0.1 inside Chromium only.
// Plain http on a non-localhost name is also not a "secure context", so the widget's
// crypto.randomUUID fallback is what runs here.
const PAGE_HOST = 'shop.example';
const OVERALL_MS = 55_000;
const STEP_MS = 10_000;
const PASSWORD = 'SecurePass123';
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
  const closing = [];
  if (browser) closing.push(browser.close().catch(() => {}));
  if (pageServer) {
    pageServer.closeAllConnections?.();
    closing.push(new Promise((resolve) => pageServer.close(() => resolve())));
  }
  await Promise.race([Promise.all(closing), new Promise((resolve) => setTimeout(resolve, 5_000))]);
}

async function fail(message) {
  console.error(`widget e2e FAILED after ${Date.now() - started} ms: ${message}`);
  if (timings.length) console.error(`steps done: ${timings.join(', ')}`);
  if (browserLog.length) console.error(`browser log:\n  ${browserLog.slice(-40).join('\n  ')}`);
  await cleanup();
  process.exit(1);
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const overall = setTimeout(() => fail(`timed out after ${OVERALL_MS} ms`), OVERALL_MS);

/** One API call; `expect` is the status (or statuses) that count as success. */
async function api(method, path, { token, body, expect = 200 } = {}) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(serverUrl + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(STEP_MS),
    });
  } catch (err) {
    throw new Error(`${method} ${path}: request failed: ${err.message}`);
  }
  const text = await response.text();
  const allowed = Array.isArray(expect) ? expect : [expect];
  if (!allowed.includes(response.status)) {
    throw new Error(`${method} ${path}: expected ${allowed.join(' or ')}, got ${response.status}: ${text}`);
  }
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    throw new Error(`${method} ${path}: body is not JSON: ${text}`);
  }
}

/** The host page: a foreign site with hostile CSS, embedding the snippet the server handed out. */
function startPageServer(snippet) {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme shop</title>
<style>
  /* The widget lives in a shadow root, so none of this may reach it. */
  button, input { display: none !important; }
  * { color: red !important; font-size: 40px !important; }
</style></head>
<body><h1>Acme shop</h1><p>Products and prices.</p>
${snippet}
</body></html>`;
  return new Promise((resolve, reject) => {
    const server = http.createServer((req, res) => {
      if (req.url.startsWith('/favicon')) {
        res.writeHead(204).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(html);
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
    body: {
      config: {
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
      },
    },
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

  pageServer = await startPageServer(snippet);
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
  const context = await browser.newContext();
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

main().catch((err) => fail(err?.stack || String(err)));
