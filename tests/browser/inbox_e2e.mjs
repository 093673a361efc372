#!/usr/bin/env node
// The agent inbox (assets/app, served at /app/) in a real headless Chromium, end to end: two agents in
// two browser contexts (the owner signs in; a teammate joins through the invitation link) and a visitor
// chatting from the widget on another origin. The visitor writes, both agents see it live, one takes it,
// the other sees the assignment, the first answers with a canned answer, the visitor sees it, a private
// note never reaches the visitor, the page survives the server restarting (banner, a reply queued while
// it is down is sent once, then caught up), and the 375 px phone layout works.
//
//   SWITCHBOARD_URL=http://127.0.0.1:PORT ADMIN_TOKEN=… node tests/browser/inbox_e2e.mjs
//   SCREENSHOT_DIR: where to save screenshots (default: none); CHROMIUM_PATH overrides /usr/bin/chromium.
//
// The server restart is done by whoever runs this (tests/api/inbox.rs): the script prints `STOP` on
// stdout and waits for `STOPPED` on stdin, then prints `START` and waits for `STARTED`. Without a driver
// (stdin is a terminal) it skips the restart. Exits 0 on success, 1 with a reason on any failure.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import crypto from 'node:crypto';
import { chromium } from 'playwright-core';
import { apiClient, check, closeAll } from './harness.mjs';

const serverUrl = (process.env.SWITCHBOARD_URL || '').replace(/\/+$/, '');
const adminToken = process.env.ADMIN_TOKEN || '';
const twilioToken = process.env.TWILIO_AUTH_TOKEN || '';
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const screenshotDir = process.env.SCREENSHOT_DIR || '';
const PAGE_HOST = 'shop.example';
const OVERALL_MS = 150_000;
const STEP_MS = 15_000;
const PASSWORD = 'SecurePass123';
const VISITOR_TEXT = 'Hi! Where is my order #4521?';
const CANNED = 'Thanks for reaching out! Let me look into that for you.';
const NOTE_TEXT = 'Internal: customer is a VIP, check the warehouse';
const FOLLOW_UP = 'Found it: it ships today.';
const OFFLINE_REPLY = 'Sent while the server was restarting';
const AFTER_RESTART = 'Great, thank you!';

const started = Date.now();
const timings = [];
let lastMark = started;
function mark(step) {
  const now = Date.now();
  timings.push(`${step}: ${now - lastMark} ms`);
  lastMark = now;
  console.error(`[inbox e2e] ${step}`);
}

let browser = null;
let pageServer = null;
const browserLog = [];

async function cleanup() {
  await closeAll(browser, pageServer);
}

const openPages = new Map();

async function fail(message) {
  // What each page showed when it failed helps more than any log line.
  for (const [who, page] of openPages) await shot(page, `failed-${who}`).catch(() => {});
  console.error(`inbox e2e FAILED after ${Date.now() - started} ms: ${message}`);
  if (timings.length) console.error(`steps done: ${timings.join(', ')}`);
  if (browserLog.length) console.error(`browser log:\n  ${browserLog.slice(-60).join('\n  ')}`);
  await cleanup();
  process.exit(1);
}

const overall = setTimeout(() => fail(`timed out after ${OVERALL_MS} ms`), OVERALL_MS);

const api = apiClient(serverUrl, STEP_MS);

/** An inbound WhatsApp message as Twilio posts it, signed with the auth token (URL + sorted name/value pairs). */
async function twilioInbound(params) {
  const url = `${serverUrl}/api/webhooks/twilio/whatsapp`;
  const data = url + Object.entries(params).sort(([a, x], [b, y]) => (a === b ? (x < y ? -1 : 1) : a < b ? -1 : 1)).map(([k, v]) => k + v).join('');
  const signature = crypto.createHmac('sha1', twilioToken).update(data).digest('base64');
  const response = await fetch(url, { method: 'POST', headers: { 'x-twilio-signature': signature }, body: new URLSearchParams(params), signal: AbortSignal.timeout(STEP_MS) });
  if (response.status !== 200) throw new Error(`the Twilio webhook answered ${response.status}: ${await response.text()}`);
}

/** The current 6-digit TOTP code of a base32 secret (RFC 6238: SHA-1, 30 s steps), as an authenticator app shows. */
function totp(secret, at = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30_000)));
  const mac = crypto.createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

/** The host page on another origin, embedding the snippet. */
function startPageServer(snippet) {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Acme shop</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family:sans-serif"><h1>Acme shop</h1><p>Order tracking.</p>${snippet}</body></html>`;
  return new Promise((resolve, reject) => {
    const server = http.createServer((req, res) => {
      if (req.url.startsWith('/favicon')) return res.writeHead(204).end();
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(html);
    });
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

// The restart driver speaks over stdio.
const lines = process.stdin.isTTY ? null : readline.createInterface({ input: process.stdin });
const waiting = [];
lines?.on('line', (line) => waiting.shift()?.(line.trim()));
function driver(say, expect) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the driver did not answer ${say} with ${expect}`)), 60_000);
    waiting.push((line) => {
      clearTimeout(timer);
      if (line === expect) resolve();
      else reject(new Error(`the driver answered ${say} with ${line}`));
    });
    process.stdout.write(`${say}\n`);
  });
}

async function shot(page, name) {
  if (!screenshotDir) return;
  fs.mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: path.join(screenshotDir, `${name}.png`) });
}

function watch(page, who) {
  openPages.set(who, page);
  page.on('framenavigated', (f) => f === page.mainFrame() && browserLog.push(`${who} navigated: ${f.url()}`));
  page.on('console', (m) => browserLog.push(`${who} console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => browserLog.push(`${who} pageerror: ${e.message}`));
  page.on('requestfailed', (r) => browserLog.push(`${who} request failed: ${r.url()} ${r.failure()?.errorText}`));
  return page;
}

/** The list item of the conversation. */
const listItem = (page, id) => page.locator(`.conv[data-id="${id}"]`);
/** A stored (not pending) message in the open thread. */
const threadMessage = (page, text) => page.locator('.messages .msg[data-seq]', { hasText: text });

async function main() {
  check(/^https?:\/\//.test(serverUrl), 'set SWITCHBOARD_URL');
  check(adminToken, 'set ADMIN_TOKEN');

  // The tenant: the owner (Ana), a canned answer, a label, the widget, and an invitation for Ben.
  const email = `ana-${Date.now()}@example.com`;
  const license = await api('POST', '/api/admin/licenses', { token: adminToken, body: { email, products: ['chatbot'], tier: 'pro' }, expect: 201 });
  await api('POST', '/api/auth/register', { body: { email, password: PASSWORD, license_key: license.license_key }, expect: 201 });
  const { token, user: owner } = await api('POST', '/api/auth/login', { body: { email, password: PASSWORD } });
  await api('PATCH', '/api/team/me', { token, body: { name: 'Ana Lopez' } });
  await api('POST', '/api/canned-answers', { token, body: { short_code: 'thanks', content: CANNED }, expect: 201 });
  await api('POST', '/api/labels', { token, body: { name: 'vip', color: '#b45309' }, expect: 201 });
  const configured = await api('POST', '/api/products/chatbot/configure', {
    token,
    body: { config: { title: 'Acme support', greeting: 'Hi! How can we help?', primaryColor: '#4338ca', textColor: '#ffffff', position: 'bottom-right' } },
    expect: [200, 201],
  });
  const invited = await api('POST', '/api/team/invitations', { token, body: { email: `ben-${Date.now()}@example.com`, role: 'member' }, expect: 201 });
  check(invited.accept_url.includes('/app/#/accept?token='), `accept_url: ${invited.accept_url}`);
  mark('tenant set up');

  pageServer = await startPageServer(configured.embed_snippet);
  const shopUrl = `http://${PAGE_HOST}:${pageServer.address().port}/track?utm_source=newsletter&utm_campaign=spring`;
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    timeout: STEP_MS,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', `--host-resolver-rules=MAP ${PAGE_HOST} 127.0.0.1`],
  });
  const desktop = { viewport: { width: 1440, height: 900 } };
  const anaContext = await browser.newContext(desktop);
  const benContext = await browser.newContext(desktop);
  const visitorContext = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  for (const c of [anaContext, benContext, visitorContext]) c.setDefaultTimeout(STEP_MS);
  const ana = watch(await anaContext.newPage(), 'ana');
  const ben = watch(await benContext.newPage(), 'ben');
  const visitor = watch(await visitorContext.newPage(), 'visitor');
  const pageErrors = [];
  for (const p of [ana, ben]) p.on('pageerror', (e) => pageErrors.push(e.message));

  // Ana signs in through the form; /app redirects to /app/.
  await ana.goto(`${serverUrl}/app`);
  check(new URL(ana.url()).pathname === '/app/', `/app did not redirect to /app/: ${ana.url()}`);
  await ana.getByLabel('Email').fill(email);
  await ana.getByLabel('Password').fill('wrong-password');
  await ana.getByRole('button', { name: 'Sign in' }).click();
  await ana.getByText('Wrong email or password.').waitFor();
  await shot(ana, '01-login');
  await ana.getByLabel('Password').fill(PASSWORD);
  await ana.getByRole('button', { name: 'Sign in' }).click();
  await ana.locator('.conv-list').waitFor();
  // Ben joins through the invitation link.
  await ben.goto(invited.accept_url.replace(/^https?:\/\/[^/]+/, serverUrl));
  await ben.getByLabel('Your name').fill('Ben Ito');
  await ben.getByLabel('Choose a password').fill(PASSWORD);
  await ben.getByRole('button', { name: 'Join the team' }).click();
  await ben.locator('.conv-list').waitFor();
  // Both are live before the visitor writes (the header's metrics arrive over the socket).
  for (const p of [ana, ben]) await p.locator('.metric b', { hasText: /^\d+$/ }).first().waitFor();
  mark('agents signed in (login, invitation)');

  // The visitor writes from the shop.
  await visitor.goto(shopUrl);
  await visitor.locator('[data-sb="bubble"]').click();
  await visitor.locator('[data-sb="input"]').fill(VISITOR_TEXT);
  await visitor.locator('[data-sb="send"]').click();
  await visitor.locator('[data-sb="message"][data-from="visitor"][data-seq]', { hasText: VISITOR_TEXT }).waitFor();
  const { conversations } = await api('GET', '/api/products/chatbot/conversations', { token });
  check(conversations.length === 1, `expected one conversation, got ${conversations.length}`);
  const id = conversations[0].id;

  // Both agents see it live, unread.
  for (const p of [ana, ben]) {
    await listItem(p, id).filter({ hasText: VISITOR_TEXT }).waitFor();
    await listItem(p, id).locator('.unread-count').waitFor();
    check(/^\(1\) Switchboard$/.test(await p.title()), `the tab title does not count the unread conversation: ${await p.title()}`);
  }
  mark('both agents see the new conversation live');

  // Ana opens it: the visitor's page and campaign are there; she takes it.
  await listItem(ana, id).click();
  await threadMessage(ana, VISITOR_TEXT).waitFor();
  await ana.locator('.details-pane', { hasText: 'newsletter' }).waitFor();
  await ana.locator('.details-pane', { hasText: 'spring' }).waitFor();
  await ana.locator('[data-action="take"]').click();
  await ana.locator(`.conv[data-id="${id}"][data-assignee="${owner.id}"]`).waitFor();
  // Ben sees the assignment without reloading.
  await ben.locator(`.conv[data-id="${id}"][data-assignee="${owner.id}"]`).waitFor();
  await listItem(ben, id).getByText('Ana Lopez').waitFor();
  // Filters and search go through the list API: "assigned to me" hides Ana's conversation from Ben; a word
  // of the visitor's message finds it, a word nobody wrote finds nothing.
  await ben.getByRole('combobox', { name: 'Assignee' }).first().selectOption('me');
  await ben.getByText('No conversations here.').waitFor();
  await ben.getByRole('combobox', { name: 'Assignee' }).first().selectOption('');
  await listItem(ben, id).waitFor();
  const search = ben.getByRole('searchbox', { name: 'Search messages' });
  await search.fill('ord');
  await listItem(ben, id).waitFor();
  await search.fill('zebra');
  await ben.getByText('No conversation matches.').waitFor();
  await search.fill('');
  await listItem(ben, id).waitFor();
  mark('Ana took it, Ben sees the assignment; filters and search');

  // Visitor typing reaches Ana.
  await visitor.locator('[data-sb="input"]').pressSequentially('Also', { delay: 30 });
  await ana.locator('.typing', { hasText: 'typing' }).waitFor();
  await visitor.locator('[data-sb="input"]').fill('');

  // Ana answers with the canned answer: "/tha" opens the list, Enter inserts, Enter sends.
  const composer = ana.getByRole('textbox', { name: 'Reply' });
  await composer.click();
  await composer.pressSequentially('/tha', { delay: 40 });
  await ana.locator('.canned li[data-code="thanks"]').waitFor();
  await shot(ana, '03-canned-answers');
  await composer.press('Enter');
  check((await composer.inputValue()) === CANNED, `the canned answer was not inserted: ${await composer.inputValue()}`);
  await composer.press('Enter');
  await threadMessage(ana, CANNED).waitFor();
  await visitor.locator('[data-sb="message"][data-from="agent"]', { hasText: CANNED }).waitFor();
  mark('canned answer reached the visitor');

  // A private note: Ben sees it, the visitor never does (a later reply arrives, the note does not).
  await ana.getByRole('button', { name: 'Private note' }).click();
  const noteBox = ana.getByRole('textbox', { name: 'Private note' });
  await noteBox.fill(NOTE_TEXT);
  await noteBox.press('Enter');
  await ana.locator('.messages .msg.note[data-seq]', { hasText: NOTE_TEXT }).waitFor();
  await listItem(ben, id).click();
  await ben.locator('.messages .msg.note[data-seq]', { hasText: NOTE_TEXT }).waitFor();
  await ana.getByRole('button', { name: 'Reply', exact: true }).click();
  await composer.fill(FOLLOW_UP);
  await composer.press('Enter');
  await visitor.locator('[data-sb="message"][data-from="agent"]', { hasText: FOLLOW_UP }).waitFor();
  check((await visitor.locator('[data-sb="message"]', { hasText: NOTE_TEXT }).count()) === 0, 'the private note reached the visitor');
  check(!(await visitor.content()).includes(NOTE_TEXT), 'the note text is somewhere in the visitor page');
  // The visitor has the panel open: Ana sees the reply as seen.
  await ana.locator('.msg.agent [data-read="true"]').waitFor();
  // Ana types, the visitor sees it.
  await composer.pressSequentially('One more', { delay: 30 });
  await visitor.locator('[data-sb="typing"]').waitFor({ state: 'visible' });
  await composer.fill('');
  await ana.getByRole('combobox', { name: 'Add a label' }).selectOption('vip');
  await listItem(ben, id).getByText('vip').waitFor();
  await shot(ana, '02-inbox-conversation');
  await shot(ben, '04-teammate-view');
  await shot(visitor, '05-visitor-widget');
  mark('note stayed private; read receipt, typing and labels live');

  // The server restarts: the banner shows, a reply written meanwhile waits, then goes out once.
  if (lines) {
    await driver('STOP', 'STOPPED');
    for (const p of [ana, ben]) await p.locator('.banner[data-state="down"]').waitFor();
    await composer.fill(OFFLINE_REPLY);
    await composer.press('Enter');
    await ana.locator('.msg[data-pending="true"]', { hasText: OFFLINE_REPLY }).waitFor();
    await shot(ana, '06-reconnecting');
    await driver('START', 'STARTED');
    for (const p of [ana, ben]) await p.locator('.banner[data-state="recovered"]').waitFor();
    await threadMessage(ana, OFFLINE_REPLY).waitFor();
    await threadMessage(ben, OFFLINE_REPLY).waitFor();
    await visitor.locator('[data-sb="message"][data-from="agent"]', { hasText: OFFLINE_REPLY }).waitFor();
    // Caught up and live again without a reload: the visitor writes, both see it.
    await visitor.locator('[data-sb="input"]').fill(AFTER_RESTART);
    await visitor.locator('[data-sb="send"]').click();
    await threadMessage(ana, AFTER_RESTART).waitFor();
    await threadMessage(ben, AFTER_RESTART).waitFor();
    const page = await api('GET', `/api/conversations/${id}/messages?limit=100`, { token });
    const copies = page.messages.filter((m) => m.text === OFFLINE_REPLY).length;
    check(copies === 1, `the reply queued during the restart is stored ${copies} times`);
    check((await ana.locator('.messages .msg', { hasText: OFFLINE_REPLY }).count()) === 1, 'Ana sees the queued reply twice');
    check((await visitor.locator('[data-sb="message"]', { hasText: OFFLINE_REPLY }).count()) === 1, 'the visitor sees the queued reply twice');
    mark('survived a server restart');
  }

  // Ben's session ends (Ana changes his role: his sessions end on every node). His page goes back to the
  // sign-in form, and the reply he was writing is still there once he signs in again.
  const draft = 'Half-written answer that must survive';
  await ben.getByRole('textbox', { name: 'Reply' }).fill(draft);
  const { members } = await api('GET', '/api/team/members', { token });
  const benMember = members.find((m) => m.email === invited.invitation.email);
  await api('PATCH', `/api/team/members/${benMember.id}`, { token, body: { role: 'manager' } });
  await ben.getByText('Your session has ended').waitFor();
  await ben.getByLabel('Email').fill(invited.invitation.email);
  await ben.getByLabel('Password').fill(PASSWORD);
  await ben.getByRole('button', { name: 'Sign in' }).click();
  const kept = ben.getByRole('textbox', { name: 'Reply' });
  await kept.waitFor();
  check((await kept.inputValue()) === draft, `Ben's draft after signing in again: ${JSON.stringify(await kept.inputValue())}`);
  mark('session end: back to sign-in, draft kept');

  // WhatsApp: a customer writes through Twilio, Ana answers, and sees the reply's delivery fail with the
  // provider's error (nothing listens where this server sends to Twilio).
  if (twilioToken) {
    await api('POST', '/api/integrations', { token, body: { provider: 'whatsapp', number: '+14155238886' }, expect: 201 });
    await twilioInbound({ MessageSid: 'SM100', AccountSid: 'AC123', From: 'whatsapp:+15550001111', To: 'whatsapp:+14155238886', Body: 'Hola, do you ship to Spain?', NumMedia: '0' });
    const whatsapp = ana.locator('.conv', { hasText: 'Hola, do you ship to Spain?' });
    await whatsapp.waitFor();
    // A click that straddles a live update of its row still opens the conversation: the customer writes
    // again between the button going down and coming up.
    const box = await whatsapp.boundingBox();
    await ana.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await ana.mouse.down();
    await twilioInbound({ MessageSid: 'SM101', AccountSid: 'AC123', From: 'whatsapp:+15550001111', To: 'whatsapp:+14155238886', Body: 'And to Portugal?', NumMedia: '0' });
    await ana.locator('.conv', { hasText: 'And to Portugal?' }).waitFor();
    await ana.mouse.up();
    await threadMessage(ana, 'Hola, do you ship to Spain?').waitFor();
    await threadMessage(ana, 'And to Portugal?').waitFor();
    await composer.fill('We do, in 3 days.');
    await composer.press('Enter');
    await ana.locator('.msg.agent', { hasText: 'We do, in 3 days.' }).locator('[data-delivery="failed"]').waitFor();
    await shot(ana, '11-whatsapp-delivery-failed');
    mark('WhatsApp reply with its delivery state');
  }

  // The settings (control panel) open for the owner, with the widget preview and the snippet.
  await ana.goto(`${serverUrl}/app/#/settings/widget`);
  await ana.locator('.snippet', { hasText: configured.product_key }).waitFor();
  await ana.getByLabel('Title').fill('Acme help desk');
  // The preview is the real widget.js in preview mode, fed each edit by postMessage.
  await ana.frameLocator('iframe[title="Widget preview"]').locator('[data-sb="title"]', { hasText: 'Acme help desk' }).waitFor();
  mark('the preview follows the edit');
  await ana.getByRole('button', { name: 'Save and publish' }).click();
  await ana.getByText('Widget saved and published').waitFor();
  const saved = await api('GET', `/api/widget/config?product_key=${configured.product_key}`);
  check(saved.config.title === 'Acme help desk', `the saved title is ${JSON.stringify(saved.config.title)}`);
  check(saved.config.greeting === 'Hi! How can we help?', 'saving lost a field the page did not edit');
  await shot(ana, '07-settings-widget');
  await ana.goto(`${serverUrl}/app/#/settings/team`);
  await ana.locator('table.data').first().waitFor();
  await shot(ana, '08-settings-team');

  // A phone: one pane at a time, nothing wider than the screen.
  const phone = watch(await anaContext.newPage(), 'phone');
  await phone.setViewportSize({ width: 375, height: 812 });
  await phone.goto(`${serverUrl}/app/#/inbox`);
  await listItem(phone, id).waitFor();
  await shot(phone, '09-phone-list');
  await listItem(phone, id).click();
  await threadMessage(phone, AFTER_RESTART).or(threadMessage(phone, FOLLOW_UP)).first().waitFor();
  check(!(await phone.locator('.list-pane').isVisible()), 'the list stays visible beside the thread on a phone');
  await phone.getByRole('textbox', { name: 'Reply' }).waitFor();
  const width = await phone.evaluate(() => document.documentElement.scrollWidth);
  check(width <= 375, `the phone page is ${width}px wide`);
  await shot(phone, '10-phone-thread');
  await phone.getByRole('link', { name: 'Back to the list' }).click();
  await listItem(phone, id).waitFor();
  await phone.goto(`${serverUrl}/app/#/settings/team`);
  await phone.locator('table.data').first().waitFor();
  const settingsWidth = await phone.evaluate(() => document.documentElement.scrollWidth);
  check(settingsWidth <= 375, `the phone settings page is ${settingsWidth}px wide`);
  await shot(phone, '12-phone-settings');
  mark('phone layout');

  // Infinite scroll: 35 more WhatsApp customers write; the list shows a page of 30, the rest when scrolled to.
  if (twilioToken) {
    for (let i = 0; i < 35; i += 1) {
      await twilioInbound({ MessageSid: `SM2${i}`, AccountSid: 'AC123', From: `whatsapp:+1555000${2000 + i}`, To: 'whatsapp:+14155238886', Body: `Question ${i}`, NumMedia: '0' });
    }
    const total = 37;
    await ana.goto(`${serverUrl}/app/#/inbox`);
    await ana.reload();
    await ana.locator('.conv').nth(29).waitFor();
    const first = await ana.locator('.conv').count();
    check(first === 30, `the first page shows ${first} conversations, expected 30`);
    await ana.locator('.conv-list').evaluate((list) => list.parentElement.scrollTo(0, list.parentElement.scrollHeight));
    await ana.locator('.conv').nth(total - 1).waitFor();
    check((await ana.locator('.conv').count()) === total, `after scrolling the list shows ${await ana.locator('.conv').count()}`);
    mark('infinite scroll');
  }

  // A viewer reads but cannot answer, and the control panel shows her only what her role may see.
  const viewerEmail = `vera-${Date.now()}@example.com`;
  const viewerInvite = await api('POST', '/api/team/invitations', { token, body: { email: viewerEmail, role: 'viewer' }, expect: 201 });
  await api('POST', '/api/team/invitations/accept', { body: { token: viewerInvite.token, password: PASSWORD } });
  const veraContext = await browser.newContext(desktop);
  veraContext.setDefaultTimeout(STEP_MS);
  const vera = watch(await veraContext.newPage(), 'vera');
  // A deep link: signing in returns to it.
  await vera.goto(`${serverUrl}/app/#/inbox/${id}`);
  await vera.getByLabel('Email').fill(viewerEmail);
  await vera.getByLabel('Password').fill(PASSWORD);
  await vera.getByRole('button', { name: 'Sign in' }).click();
  await threadMessage(vera, FOLLOW_UP).waitFor();
  await vera.getByText('your role cannot reply').waitFor();
  check((await vera.getByRole('textbox', { name: 'Reply' }).count()) === 0, 'a viewer has a composer');
  await vera.goto(`${serverUrl}/app/#/settings`);
  await vera.getByRole('link', { name: 'Team' }).waitFor();
  for (const hidden of ['Chat widget', 'API keys', 'Webhooks', 'Product keys']) {
    check((await vera.getByRole('link', { name: hidden }).count()) === 0, `a viewer sees the ${hidden} settings`);
  }
  mark('viewer: read-only inbox, limited settings');

  // Two-factor: Ana turns it on from her account page (the new session replaces hers without a sign-in),
  // signs out (a reload then shows the sign-in form), and signs in again with the second step.
  await ana.goto(`${serverUrl}/app/#/settings/security`);
  await ana.getByRole('button', { name: 'Set up two-factor' }).click();
  const secret = (await ana.locator('.snippet').first().textContent()).trim();
  await ana.getByLabel('Code from the app').fill(totp(secret));
  await ana.getByRole('button', { name: 'Turn on two-factor' }).click();
  await ana.getByText('Recovery codes').waitFor();
  const recovery = (await ana.locator('.secret .snippet').textContent()).trim().split('\n');
  check(recovery.length >= 5, `recovery codes: ${JSON.stringify(recovery)}`);
  await ana.locator('.metric b', { hasText: /^\d+$/ }).first().waitFor();
  check(await ana.getByText('Recovery codes').isVisible(), 'turning on two-factor sent Ana away from her recovery codes');
  await shot(ana, '13-two-factor-on');
  await ana.getByRole('link', { name: 'Sign out' }).click();
  await ana.getByText('You are signed out.').waitFor();
  await ana.reload();
  await ana.getByLabel('Email').fill(email);
  await ana.getByLabel('Password').fill(PASSWORD);
  await ana.getByRole('button', { name: 'Sign in' }).click();
  await ana.getByLabel('Authentication code').waitFor();
  await ana.getByLabel('Authentication code').fill(recovery[0]);
  await ana.getByRole('button', { name: 'Sign in' }).click();
  await ana.locator('.conv-list').waitFor();
  mark('two-factor on, sign out, sign in with the second step');

  check(pageErrors.length === 0, `the app threw: ${pageErrors.join('; ')}`);
  await cleanup();
  clearTimeout(overall);
  console.log(`inbox e2e passed in ${Date.now() - started} ms (${timings.join(', ')})`);
  process.exit(0);
}

main().catch((err) => fail(err?.stack || String(err)));
