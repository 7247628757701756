// The page's domain audit, end to end: Debian's Chromium, driven by
// playwright-core, loads the page from a real `ws-bridge serve` that asks the
// project's DNS fixture, types a domain, and must show the whole domain: the
// domain's verdict on top, one row per host × address, each opening into the
// step-by-step panels of that server, the rows filling in as their audits
// finish, and the results copied as text. Plain node, no test framework:
//
//   BRIDGE_URL=http://127.0.0.1:PORT/ DOMAIN=two.test PORT=N SHOTS_DIR=DIR node tests/e2e/domain.mjs
//
// ws-bridge/tests/page_domain_e2e.rs sets up the domain and runs this. What
// it expects of DOMAIN: MX 10 mx1 (127.0.0.1, refused by the bridge's
// policy), MX 20 mx2 (127.0.0.1 closed, ::1 an open relay that waits 2 s
// before its banner, so its row is the last to fill in). One line per
// check, "ok - NAME" or "not ok - NAME: WHY", then "N passed, M failed".

import { join } from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const WAIT_MS = 30_000;
let passed = 0;
let failed = 0;

function ok(name) {
  passed += 1;
  console.log(`ok - ${name}`);
}

function notOk(name, why) {
  failed += 1;
  const text = String(why instanceof Error ? why.message : why).replace(/\x1b\[[0-9;]*m/g, '').replace(/\s+/g, ' ');
  console.log(`not ok - ${name}: ${text.slice(0, 400)}`);
}

async function check(name, body) {
  try {
    const why = await body();
    if (typeof why === 'string') notOk(name, why);
    else ok(name);
  } catch (error) {
    notOk(name, error);
  }
}

const base = new URL(process.env.BRIDGE_URL);
if (!['127.0.0.1', 'localhost', '[::1]'].includes(base.hostname)) {
  console.log(`not ok - inputs: BRIDGE_URL must be on loopback, not ${base.hostname}`);
  process.exit(2);
}
const url = new URL(base);
url.search = new URLSearchParams({ host: process.env.DOMAIN, port: process.env.PORT, run: '1' }).toString();

const watchdog = setTimeout(() => {
  console.log('not ok - the run: took longer than 120 s');
  process.exit(1);
}, 120_000);

let browser;
try {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(WAIT_MS);
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base.origin });
  const page = await context.newPage();
  // Every state of the rows the page ever showed, one string each.
  await page.addInitScript(() => {
    window.rowStates = [];
    new MutationObserver(() => {
      const rows = [...document.querySelectorAll('[data-testid=domain-row]')].map((r) => r.getAttribute('data-verdict'));
      const state = rows.join(',');
      if (rows.length > 0 && window.rowStates[window.rowStates.length - 1] !== state) window.rowStates.push(state);
    }).observe(document, { subtree: true, childList: true, attributes: true });
  });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.stack || e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(url.toString());

  await check('the domain verdict is open', async () => {
    const verdict = page.locator('[data-testid=domain-verdict]');
    await verdict.waitFor({ timeout: WAIT_MS });
    const v = await verdict.getAttribute('data-verdict');
    if (v !== 'open') return `data-verdict=${v}`;
  });
  await check('its reason names the IPv6 address of the backup MX', async () => {
    const reason = await page.locator('[data-testid=domain-reason]').innerText();
    if (!reason.includes('mx2.two.test [::1]')) return reason;
  });
  await check('one row per host × address, the refused one with the reason', async () => {
    const rows = page.locator('[data-testid=domain-row]');
    const verdicts = await rows.evaluateAll((rs) => rs.map((r) => r.getAttribute('data-verdict')));
    if (JSON.stringify(verdicts) !== JSON.stringify(['not-audited', 'closed', 'open'])) return JSON.stringify(verdicts);
    const first = await rows.nth(0).innerText();
    if (!first.includes('hidden') || !first.includes('not audited')) return first;
  });
  await check('the rows filled in as their audits finished', async () => {
    const states = await page.evaluate(() => window.rowStates);
    // Every row at once, the slow one still being audited beside the
    // finished one, then the slow one's answer.
    if (!states.includes('not-audited,closed,pending')) return JSON.stringify(states);
    if (states[states.length - 1] !== 'not-audited,closed,open') return JSON.stringify(states);
  });
  await check('the results are copied as text', async () => {
    await page.locator('#copy-domain').click();
    await page.getByText('Results copied.').waitFor();
    const text = await page.evaluate(() => navigator.clipboard.readText());
    for (const expected of ['relaycheck: the mail servers of two.test: open', 'mx2.two.test [::1]: open', '  > EHLO ']) {
      if (!text.includes(expected)) return `${JSON.stringify(expected)} not in ${text}`;
    }
  });
  await check('a row opens into the steps of that server', async () => {
    const row = page.locator('[data-testid=domain-row]').nth(2);
    await row.locator('summary').click();
    const kinds = await row.locator('[data-testid=step]').evaluateAll((s) => s.map((e) => e.getAttribute('data-kind')));
    if (kinds[0] !== 'connect' || kinds[kinds.length - 1] !== 'verdict') return JSON.stringify(kinds);
  });
  await page.screenshot({ path: join(process.env.SHOTS_DIR || '.', 'domain-open.png'), fullPage: true });
  await check('no page errors', async () => {
    if (errors.length > 0) return errors.join(' | ');
  });
} catch (error) {
  notOk('the run', error);
} finally {
  if (browser) await browser.close().catch(() => {});
  clearTimeout(watchdog);
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
}
