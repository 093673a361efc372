#!/usr/bin/env node
// The inbox and the widget in Firefox (Debian's firefox-esr, driven by puppeteer-core over WebDriver BiDi):
// the core path of inbox_e2e.mjs on the second engine the issue names. An agent signs in at /app/, a
// visitor on another origin writes from the widget, the agent sees it live, opens it and answers, the
// visitor sees the answer, and the inbox fits a 375 px phone without horizontal scrolling.
//
//   SWITCHBOARD_URL=http://127.0.0.1:PORT ADMIN_TOKEN=… node tests/browser/inbox_firefox.mjs
//   FIREFOX_PATH overrides /usr/bin/firefox-esr. Exits 0 on success, 1 with a reason on any failure.
import http from 'node:http';
import puppeteer from 'puppeteer-core';
import { apiClient, check, closeAll } from './harness.mjs';

const serverUrl = (process.env.SWITCHBOARD_URL || '').replace(/\/+$/, '');
const adminToken = process.env.ADMIN_TOKEN || '';
const firefoxPath = process.env.FIREFOX_PATH || '/usr/bin/firefox-esr';
const OVERALL_MS = 100_000;
const STEP_MS = 20_000;
const PASSWORD = 'SecurePass123';
const VISITOR_TEXT = 'Bonjour from Firefox';
const REPLY = 'Hello! Answered from Firefox.';

let browser = null;
let pageServer = null;
const started = Date.now();

async function cleanup() {
  await closeAll(browser, pageServer);
}

async function fail(message) {
  console.error(`firefox e2e FAILED after ${Date.now() - started} ms: ${message}`);
  await cleanup();
  process.exit(1);
}

const overall = setTimeout(() => fail(`timed out after ${OVERALL_MS} ms`), OVERALL_MS);

const api = apiClient(serverUrl, STEP_MS);

/** A page on another origin (localhost, while the server is 127.0.0.1) that embeds the snippet. */
async function hostPage(productKey) {
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>Shop</title></head><body><h1>Shop</h1>
<script src="${serverUrl}/widget.js" data-product-key="${productKey}" async></script></body></html>`;
  pageServer = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  await new Promise((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
  return `http://localhost:${pageServer.address().port}/`;
}

async function main() {
  check(serverUrl && adminToken, 'set SWITCHBOARD_URL and ADMIN_TOKEN');
  const email = `ff-${Date.now()}@example.com`;
  const license = await api('POST', '/api/admin/licenses', { token: adminToken, body: { email, products: ['chatbot'], tier: 'pro' }, expect: 201 });
  await api('POST', '/api/auth/register', { body: { email, password: PASSWORD, license_key: license.license_key }, expect: 201 });
  const { token } = await api('POST', '/api/auth/login', { body: { email, password: PASSWORD } });
  const configured = await api('POST', '/api/products/chatbot/configure', { token, body: { config: { title: 'Firefox Support' } }, expect: 201 });
  const shopUrl = await hostPage(configured.product_key);

  browser = await puppeteer.launch({ browser: 'firefox', executablePath: firefoxPath, headless: true, protocolTimeout: STEP_MS });
  const agent = await browser.newPage();
  agent.setDefaultTimeout(STEP_MS);
  await agent.setViewport({ width: 1280, height: 800 });
  await agent.goto(`${serverUrl}/app`);
  await agent.locator('input[name="email"]').fill(email);
  await agent.locator('input[name="password"]').fill(PASSWORD);
  await agent.locator('form[aria-label="Sign in"] button[type="submit"]').click();
  await agent.waitForSelector('.conv-list');
  console.error('[firefox e2e] signed in');

  // The visitor has their own storage (a separate context), as a customer's browser would.
  const visitorContext = await browser.createBrowserContext();
  const visitor = await visitorContext.newPage();
  visitor.setDefaultTimeout(STEP_MS);
  await visitor.goto(shopUrl);
  await visitor.locator('pierce/[data-sb="bubble"]').click();
  await visitor.locator('pierce/[data-sb="input"]').fill(VISITOR_TEXT);
  await visitor.locator('pierce/[data-sb="send"]').click();
  console.error('[firefox e2e] the visitor wrote');

  // Live: the conversation appears in the agent's list without a reload.
  await agent.waitForFunction((text) => [...document.querySelectorAll('.conv')].some((c) => c.textContent.includes(text)), {}, VISITOR_TEXT);
  await agent.evaluate((text) => [...document.querySelectorAll('.conv')].find((c) => c.textContent.includes(text)).click(), VISITOR_TEXT);
  await agent.waitForFunction((text) => [...document.querySelectorAll('.messages .msg')].some((m) => m.textContent.includes(text)), {}, VISITOR_TEXT);
  await agent.locator('textarea[aria-label="Reply"]').fill(REPLY);
  await agent.keyboard.press('Enter');
  console.error('[firefox e2e] the agent answered');

  await visitor.waitForFunction(
    (text) => {
      const host = [...document.querySelectorAll('*')].find((n) => n.shadowRoot);
      const root = host ? host.shadowRoot : document;
      return [...root.querySelectorAll('[data-from="agent"]')].some((m) => m.textContent.includes(text));
    },
    {},
    REPLY,
  );
  console.error('[firefox e2e] the visitor saw the answer');

  await agent.setViewport({ width: 375, height: 812 });
  await agent.goto(`${serverUrl}/app/#/inbox`);
  await agent.waitForSelector('.conv-list');
  const overflow = await agent.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `the 375 px inbox scrolls sideways by ${overflow} px`);
  console.log(`firefox e2e ok in ${Date.now() - started} ms (${await browser.version()})`);
}

main()
  .then(async () => {
    clearTimeout(overall);
    await cleanup();
    process.exit(0);
  })
  .catch((e) => fail(e && e.stack ? e.stack : String(e)));
