// The page, end to end: Debian's Chromium, driven by playwright-core, loads
// the page from a real `ws-bridge serve` and audits real mail servers through
// it (a closed and an open Postfix on loopback, and two that refuse or relay
// for other reasons than the relay itself: one whose blocklist lists the
// checker, one that relays for whoever greets as the server's own name),
// then a private address that the bridge must refuse in words. Plain node,
// no test framework:
//
//   BRIDGE_URL=http://127.0.0.1:PORT/ CLOSED_PORT=N OPEN_PORT=M BLOCKLISTED_PORT=B HELO_TRUSTED_PORT=H \
//     SHOTS_DIR=DIR node tests/e2e/page.mjs
//
// ws-bridge/tests/page_e2e.rs starts Postfix and the bridge and runs this.
// One line per check, "ok - NAME" or "not ok - NAME: WHY" (lines starting
// with "#" are context for a failure), then "N passed, M failed"; the exit
// status is non-zero if anything failed. Every wait is bounded and the
// browser is always closed. Nothing here leaves loopback: the browser is kept
// off the network by its flags, and playwright-core never downloads a browser
// (scripts/setup test installs Debian's).
//
// What the page must provide (its test contract):
//   - `?host=H&port=P&run=1` pre-fills the form (#host, #port) and starts the check;
//   - [data-testid=verdict][data-verdict=open|closed|inconclusive|blocked] when done, its
//     heading in words (h2) and [data-testid=verdict-reason] the reason;
//   - table[data-testid=probe-matrix] with one `tbody tr[data-verdict=accepted|denied|…]` per probe,
//     its `th` the probe's name (a `small` beside it: "greeted as NAME"), its
//     `td[data-label=Verdict]` the verdict word ("accepted", "denied", "not asked", …);
//   - [data-testid=step][data-kind=connect|banner|greeting|sender|recipient|verdict], in that order;
//   - [data-testid=advice] naming the server software when the relay is open;
//   - [data-testid=error] with the bridge's sentence when it refuses;
//   - window.__relaycheckReport = the report ({verdict, probes: […], …}) when done;
//   - no uncaught exceptions and no console errors.

import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const VERDICT_WAIT_MS = 30_000; // one whole audit of a loopback Postfix takes well under a second
const LOAD_WAIT_MS = 15_000;
const TOTAL_WAIT_MS = 150_000; // page_e2e.rs kills us at 180 s; say why before that
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
const STEP_KINDS = ['connect', 'banner', 'greeting', 'sender', 'recipient', 'verdict'];

// ---- reporting --------------------------------------------------------------

let passed = 0;
let failed = 0;
let silenced = false; // after the watchdog's summary, nothing more is said

function ok(name) {
  if (silenced) return;
  passed += 1;
  console.log(`ok - ${name}`);
}

function notOk(name, why) {
  if (silenced) return;
  failed += 1;
  console.log(`not ok - ${name}: ${oneLine(why)}`);
}

function note(text) {
  if (silenced) return;
  for (const line of String(text).split('\n')) console.log(`# ${line}`);
}

function oneLine(value) {
  const text = (value instanceof Error ? value.message : String(value))
    .replace(/\x1b\[[0-9;]*m/g, '') // playwright colours its call logs
    .split(/\n\s*Call log:/)[0];
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 400 ? `${line.slice(0, 400)}…` : line;
}

/** Runs one check: it passes unless `body` throws (or returns a string, the reason it failed). */
async function check(name, body) {
  try {
    const why = await body();
    if (typeof why === 'string') notOk(name, why);
    else ok(name);
    return typeof why !== 'string';
  } catch (error) {
    notOk(name, error);
    return false;
  }
}

function finish() {
  if (silenced) return;
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---- inputs -----------------------------------------------------------------

function inputs() {
  const missing = ['BRIDGE_URL', 'CLOSED_PORT', 'OPEN_PORT', 'BLOCKLISTED_PORT', 'HELO_TRUSTED_PORT'].filter(
    (k) => !process.env[k],
  );
  if (missing.length > 0) {
    notOk('inputs', `set ${missing.join(', ')} (see the top of tests/e2e/page.mjs); cargo test -p ws-bridge --test page_e2e sets them all`);
    finish();
    process.exit(2);
  }
  const base = new URL(process.env.BRIDGE_URL);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(base.hostname)) {
    notOk('inputs', `BRIDGE_URL must be on loopback, not ${base.hostname}`);
    finish();
    process.exit(2);
  }
  const shots = resolve(process.env.SHOTS_DIR || join(HERE, '..', '..', 'target', 'e2e-shots'));
  mkdirSync(shots, { recursive: true });
  return {
    base,
    closedPort: process.env.CLOSED_PORT,
    openPort: process.env.OPEN_PORT,
    blocklistedPort: process.env.BLOCKLISTED_PORT,
    heloTrustedPort: process.env.HELO_TRUSTED_PORT,
    shots,
  };
}

function checkUrl(base, host, port) {
  const url = new URL(base);
  url.search = new URLSearchParams({ host, port: String(port), run: '1' }).toString();
  return url.toString();
}

// ---- one page ---------------------------------------------------------------

/** Opens a page in a fresh context and records what goes wrong in it. */
async function openPage(browser) {
  const context = await browser.newContext({ viewport: DESKTOP });
  context.setDefaultTimeout(LOAD_WAIT_MS);
  const page = await context.newPage();
  const trouble = { pageErrors: [], consoleErrors: [], failedRequests: [] };
  page.on('pageerror', (error) => trouble.pageErrors.push(error.stack || error.message));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const where = message.location();
    trouble.consoleErrors.push(where && where.url ? `${message.text()} (at ${where.url}:${where.lineNumber})` : message.text());
  });
  page.on('requestfailed', (request) => trouble.failedRequests.push(`${request.url()}: ${request.failure()?.errorText}`));
  page.on('crash', () => trouble.pageErrors.push('the page crashed'));
  return { context, page, trouble };
}

async function load(name, page, url) {
  return check(`${name}: the page loads`, async () => {
    const response = await page.goto(url, { waitUntil: 'load', timeout: LOAD_WAIT_MS });
    if (!response) return 'no response';
    if (!response.ok()) return `HTTP ${response.status()}: ${oneLine(await response.text())}`;
  });
}

/** Waits for `selector`; on time-out, says what the page shows instead. */
async function waitFor(name, page, selector, what) {
  return check(`${name}: ${what} appears within ${VERDICT_WAIT_MS / 1000} s`, async () => {
    try {
      await page.waitForSelector(selector, { state: 'attached', timeout: VERDICT_WAIT_MS });
    } catch (error) {
      note(`what ${name} shows instead:\n${await describe(page)}`);
      return `no ${selector} (${oneLine(error)})`;
    }
  });
}

/** After the verdict: gives the page a moment to finish drawing and to publish its report. */
async function settle(page) {
  await page.waitForFunction(() => window.__relaycheckReport != null, null, { timeout: 5_000 }).catch(() => {});
}

/** A short account of the page for a failure: its error notice, or its text. */
async function describe(page) {
  try {
    return await withTimeout(
      page.evaluate(() => {
        const error = document.querySelector('[data-testid=error]');
        const text = (error ? `[data-testid=error]: ${error.innerText}` : document.body ? document.body.innerText : '(no body)')
          .replace(/\n{2,}/g, '\n')
          .trim();
        const lines = text.split('\n');
        const head = lines.slice(0, 8).join('\n');
        return lines.length > 8 ? `${head}\n… (${lines.length - 8} more lines)` : head || '(an empty page)';
      }),
      5_000,
      'reading the page',
    );
  } catch (error) {
    return `(could not read the page: ${oneLine(error)})`;
  }
}

async function attr(page, selector, name) {
  return page.locator(selector).first().getAttribute(name, { timeout: 2_000 });
}

async function rows(page) {
  return page.$$eval('table[data-testid=probe-matrix] tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-verdict')));
}

/** Every row of the probe matrix: the probe's name, its greeting (when it forges one), its verdict word. */
async function matrix(page) {
  return page.$$eval('table[data-testid=probe-matrix] tbody tr', (trs) =>
    trs.map((tr) => {
      const th = tr.querySelector('th').cloneNode(true);
      const greeted = th.querySelector('small');
      if (greeted) greeted.remove();
      return {
        name: th.textContent.trim(),
        greeted: greeted ? greeted.textContent.trim() : null,
        verdict: tr.getAttribute('data-verdict'),
        word: tr.querySelector('td[data-label=Verdict]')?.innerText.trim() ?? null,
      };
    }),
  );
}

/** The matrix's row for the probe whose name starts with `name`, or why there is none. */
async function row(page, name) {
  const all = await matrix(page);
  const found = all.find((r) => r.name.startsWith(name));
  if (found) return found;
  return `no row for ${JSON.stringify(name)} among ${all.length}: ${all.map((r) => r.name).join(' | ')}`;
}

async function text(page, selector) {
  return page.locator(selector).first().innerText({ timeout: 2_000 });
}

async function steps(page) {
  return page.$$eval('[data-testid=step]', (els) => els.map((el) => ({ kind: el.getAttribute('data-kind'), text: el.innerText })));
}

async function report(page) {
  return page.evaluate(() => {
    const r = window.__relaycheckReport;
    if (r === undefined || r === null) return null;
    return { verdict: r.verdict, probes: Array.isArray(r.probes) ? r.probes.length : null, type: typeof r };
  });
}

async function reportMatches(name, page) {
  await check(`${name}: window.__relaycheckReport agrees with the page`, async () => {
    const r = await report(page);
    if (r === null) return 'window.__relaycheckReport is not set';
    if (r.type !== 'object') return `window.__relaycheckReport is a ${r.type}, not an object`;
    const shown = await attr(page, '[data-testid=verdict]', 'data-verdict');
    const matrix = await rows(page);
    if (r.verdict !== shown) return `its verdict is ${JSON.stringify(r.verdict)}, the page shows ${JSON.stringify(shown)}`;
    if (r.probes !== matrix.length) return `it has ${r.probes} probes, the matrix ${matrix.length} rows`;
  });
}

async function noErrors(name, trouble) {
  await check(`${name}: no uncaught errors and no console errors`, () => {
    const all = [...trouble.pageErrors.map((e) => `uncaught: ${e}`), ...trouble.consoleErrors.map((e) => `console: ${e}`)];
    if (all.length === 0) return;
    note(all.join('\n'));
    if (trouble.failedRequests.length > 0) note(`failed requests:\n${trouble.failedRequests.join('\n')}`);
    return `${all.length}: ${all[0]}`;
  });
}

async function screenshot(name, page, file) {
  await check(`${name}: screenshot ${file}`, async () => {
    await page.screenshot({ path: join(shots, file), fullPage: true, timeout: 15_000 });
  });
}

// ---- the scenarios ----------------------------------------------------------

async function closedRelay(browser) {
  const name = 'closed';
  const { context, page, trouble } = await openPage(browser);
  try {
    if (!(await load(name, page, checkUrl(base, '127.0.0.1', closedPort)))) return;
    await check(`${name}: the form is filled in from the URL`, async () => {
      const host = await page.locator('#host').inputValue({ timeout: 5_000 });
      if (host !== '127.0.0.1') return `#host is ${JSON.stringify(host)}`;
    });
    if (!(await waitFor(name, page, '[data-testid=verdict]', 'a verdict'))) {
      await screenshot(name, page, 'closed.png');
      await noErrors(name, trouble);
      return;
    }
    await settle(page);
    await check(`${name}: the verdict is closed`, async () => {
      const verdict = await attr(page, '[data-testid=verdict]', 'data-verdict');
      if (verdict !== 'closed') return `data-verdict=${JSON.stringify(verdict)}; the page says: ${await describe(page)}`;
    });
    const matrix = await rows(page);
    await check(`${name}: the probe matrix has at least 20 rows`, () => {
      if (matrix.length < 20) return `${matrix.length} rows`;
    });
    await check(`${name}: every probe was denied`, () => {
      const others = matrix.map((v, i) => [i + 1, v]).filter(([, v]) => v !== 'denied');
      if (matrix.length === 0) return 'no rows';
      if (others.length > 0) return `rows ${others.map(([i, v]) => `${i}=${v}`).join(', ')}`;
    });
    const shown = await steps(page);
    await check(`${name}: the steps are ${STEP_KINDS.join(', ')}, in that order`, () => {
      const kinds = shown.map((s) => s.kind);
      const firsts = STEP_KINDS.map((k) => kinds.indexOf(k));
      const missing = STEP_KINDS.filter((_, i) => firsts[i] < 0);
      if (missing.length > 0) return `no step of kind ${missing.join(', ')} (the steps are: ${kinds.join(', ') || 'none'})`;
      if (firsts.some((at, i) => i > 0 && at < firsts[i - 1])) return `out of order: ${kinds.join(', ')}`;
    });
    await check(`${name}: the recipient step says "Relay access denied"`, () => {
      const recipient = shown.find((s) => s.kind === 'recipient');
      if (!recipient) return 'no recipient step';
      if (!recipient.text.includes('Relay access denied')) return `it says: ${recipient.text}`;
    });
    await reportMatches(name, page);
    await screenshot(name, page, 'closed.png');
    await check(`${name}: phone-width screenshot closed-phone.png`, async () => {
      await page.setViewportSize(PHONE);
      await page.waitForTimeout(300); // let the layout settle at the new width
      await page.screenshot({ path: join(shots, 'closed-phone.png'), fullPage: true, timeout: 15_000 });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (overflow > 0) note(`at ${PHONE.width} px the page is ${overflow} px wider than the screen`);
    });
    await noErrors(name, trouble);
  } finally {
    await context.close().catch(() => {});
  }
}

async function openRelay(browser) {
  const name = 'open';
  const { context, page, trouble } = await openPage(browser);
  try {
    if (!(await load(name, page, checkUrl(base, '127.0.0.1', openPort)))) return;
    if (!(await waitFor(name, page, '[data-testid=verdict]', 'a verdict'))) {
      await screenshot(name, page, 'open.png');
      await noErrors(name, trouble);
      return;
    }
    await settle(page);
    await check(`${name}: the verdict is open`, async () => {
      const verdict = await attr(page, '[data-testid=verdict]', 'data-verdict');
      if (verdict !== 'open') return `data-verdict=${JSON.stringify(verdict)}; the page says: ${await describe(page)}`;
    });
    await check(`${name}: the first probe was accepted`, async () => {
      const matrix = await rows(page);
      if (matrix.length === 0) return 'the probe matrix has no rows';
      if (matrix[0] !== 'accepted') return `row 1 is ${JSON.stringify(matrix[0])}`;
    });
    await check(`${name}: the advice is for Postfix`, async () => {
      const advice = page.locator('[data-testid=advice]');
      if ((await advice.count()) === 0) return 'no [data-testid=advice]';
      const text = await advice.first().innerText({ timeout: 2_000 });
      if (!text.includes('Postfix')) return `it says: ${text}`;
    });
    await reportMatches(name, page);
    await screenshot(name, page, 'open.png');
    await noErrors(name, trouble);
  } finally {
    await context.close().catch(() => {});
  }
}

/** The audit of 127.0.0.1 at `port` in a page of its own: its verdict must be
 *  `expected`; then `body(page)` checks the rest, and the report, a
 *  screenshot and the page's errors are checked as for every audit. */
async function audit(browser, name, port, expected, shot, body) {
  const { context, page, trouble } = await openPage(browser);
  try {
    if (!(await load(name, page, checkUrl(base, '127.0.0.1', port)))) return;
    if (await waitFor(name, page, '[data-testid=verdict]', 'a verdict')) {
      await settle(page);
      await check(`${name}: the verdict is ${expected}`, async () => {
        const verdict = await attr(page, '[data-testid=verdict]', 'data-verdict');
        if (verdict !== expected) return `data-verdict=${JSON.stringify(verdict)}; the page says: ${await describe(page)}`;
      });
      await body(page);
      await reportMatches(name, page);
      note(`${name}: ${await page.evaluate(() => window.__relaycheckReport?.connections)} connections`);
    }
    await screenshot(name, page, shot);
    await noErrors(name, trouble);
  } finally {
    await context.close().catch(() => {});
  }
}

/** An open relay behind a blocklist that lists the checker: never "closed",
 *  and the page says the checker itself was refused, never the relay. */
async function blocklisted(browser) {
  const name = 'blocklisted';
  await audit(browser, name, blocklistedPort, 'inconclusive', 'blocklisted.png', async (page) => {
    await check(`${name}: the reason says "refused our checker itself" and names rbl.test`, async () => {
      const reason = await text(page, '[data-testid=verdict-reason]');
      if (!reason.includes('refused our checker itself') || !reason.includes('rbl.test')) return `it says: ${reason}`;
    });
    await check(`${name}: the manual test's row says "not asked"`, async () => {
      const manual = await row(page, 'The manual test');
      if (typeof manual === 'string') return manual;
      if (manual.word !== 'not asked') return `it says ${JSON.stringify(manual.word)} (data-verdict=${manual.verdict})`;
    });
    await check(`${name}: no row says "denied" or "accepted"`, async () => {
      const answered = (await matrix(page)).filter((r) => r.word === 'denied' || r.word === 'accepted');
      if (answered.length > 0) return answered.map((r) => `${r.name}: ${r.word}`).join(' | ');
    });
  });
}

/** A relay for whoever greets as the server's own name (Postfix's
 *  check_helo_access … OK): open, by that probe alone. */
async function heloTrusted(browser) {
  const name = 'greeting trusted';
  await audit(browser, name, heloTrustedPort, 'open', 'helo-trusted.png', async (page) => {
    await check(`${name}: the verdict says "Open relay"`, async () => {
      const heading = await text(page, '[data-testid=verdict] h2');
      if (heading !== 'Open relay') return `it says ${JSON.stringify(heading)}`;
    });
    await check(`${name}: the row "Greeting forged as the server's own name" was accepted`, async () => {
      const forged = await row(page, "Greeting forged as the server's own name");
      if (typeof forged === 'string') return forged;
      if (forged.word !== 'accepted' || forged.verdict !== 'accepted') return `it says ${JSON.stringify(forged)}`;
      if (forged.greeted !== 'greeted as mx.relaycheck.test') return `it says ${JSON.stringify(forged.greeted)}`;
    });
    await check(`${name}: the manual test's row was denied`, async () => {
      const manual = await row(page, 'The manual test');
      if (typeof manual === 'string') return manual;
      if (manual.word !== 'denied') return `it says ${JSON.stringify(manual.word)}`;
    });
    await check(`${name}: the advice names check_helo_access`, async () => {
      if ((await page.locator('[data-testid=advice]').count()) === 0) return 'no [data-testid=advice]';
      const advice = await text(page, '[data-testid=advice]');
      if (!advice.includes('check_helo_access')) return `it says: ${advice}`;
    });
  });
}

async function privateAddress(browser) {
  const name = 'error';
  const { context, page, trouble } = await openPage(browser);
  try {
    if (!(await load(name, page, checkUrl(base, '10.0.0.1', 25)))) return;
    if (await waitFor(name, page, '[data-testid=error]', "the bridge's refusal")) {
      await check(`${name}: the refusal says the address is private`, async () => {
        const text = await page.locator('[data-testid=error]').first().innerText({ timeout: 2_000 });
        if (!text.includes('private')) return `it says: ${text}`;
      });
    }
    await screenshot(name, page, 'error.png');
    await noErrors(name, trouble);
  } finally {
    await context.close().catch(() => {});
  }
}

/** A check started by hand: the pointer on the form opens the audit socket
 *  ahead of the click, and the check then runs on that very socket. */
async function byHand(browser) {
  const name = 'by hand';
  const { context, page, trouble } = await openPage(browser);
  try {
    const sockets = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    const url = new URL(checkUrl(base, '127.0.0.1', closedPort));
    url.searchParams.delete('run');
    if (!(await load(name, page, url.toString()))) return;
    await page.waitForSelector('#find-mx', { timeout: LOAD_WAIT_MS });
    await page.hover('#run');
    await check(`${name}: the pointer on the form opens the audit socket`, async () => {
      const until = Date.now() + 5_000;
      while (sockets.length === 0 && Date.now() < until) await new Promise((ok) => setTimeout(ok, 25));
      if (sockets.length !== 1) return `${sockets.length} websockets: ${sockets.join(', ')}`;
      if (!sockets[0].endsWith('/ws/audit')) return `it is ${sockets[0]}`;
    });
    await page.click('#run');
    if (!(await waitFor(name, page, '[data-testid=verdict]', 'a verdict'))) return;
    await check(`${name}: the verdict is closed, on that one socket`, async () => {
      const verdict = await attr(page, '[data-testid=verdict]', 'data-verdict');
      if (verdict !== 'closed') return `data-verdict=${JSON.stringify(verdict)}; the page says: ${await describe(page)}`;
      if (sockets.length !== 1) return `${sockets.length} websockets were opened: ${sockets.join(', ')}`;
    });
    await noErrors(name, trouble);
  } finally {
    await context.close().catch(() => {});
  }
}

// ---- main -------------------------------------------------------------------

const { base, closedPort, openPort, blocklistedPort, heloTrustedPort, shots } = inputs();
let browser = null;

const watchdog = setTimeout(async () => {
  notOk('finished in time', `still running after ${TOTAL_WAIT_MS / 1000} s`);
  finish();
  silenced = true;
  await withTimeout(browser ? browser.close() : Promise.resolve(), 5_000, 'closing the browser').catch(() => {});
  process.exit(1);
}, TOTAL_WAIT_MS);

try {
  const launched = await check('chromium starts', async () => {
    // launch() gives the browser a fresh temporary profile (user data dir)
    // and deletes it on close; each scenario also gets its own context.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: 30_000,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    note(`Chromium ${browser.version()} at ${CHROMIUM}; page at ${base}; screenshots in ${shots}`);
  });
  if (launched) {
    for (const scenario of [closedRelay, openRelay, blocklisted, heloTrusted, privateAddress, byHand]) {
      try {
        await scenario(browser);
      } catch (error) {
        notOk(scenario.name, `stopped: ${oneLine(error)}`);
      }
    }
  }
} catch (error) {
  notOk('the run', error);
} finally {
  if (browser) await withTimeout(browser.close(), 10_000, 'closing the browser').catch((e) => notOk('chromium closes', e));
  clearTimeout(watchdog);
  finish();
}
