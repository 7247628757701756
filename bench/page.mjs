// The page's speed in headless Chromium (Debian's, driven by the
// playwright-core that tests/e2e installs): time to first render, and time
// to a finished audit of the bridge's built-in lab. Beside the first render,
// the browser's own floor in the same run: a page holding nothing but the
// same form field, served over HTTP on loopback by this script.
// Loopback only; every wait is bounded.
//
//   BRIDGE_URL=http://127.0.0.1:PORT/ RUNS=5 node bench/page.mjs
//
// Prints one line per figure and a RESULT line that bench/run collects.
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '../tests/e2e/package.json'));
const { chromium } = require('playwright-core');

const url = process.env.BRIDGE_URL;
const runs = Number(process.env.RUNS || 5);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
// A quick person's time from the pointer reaching a button to the click.
const HUMAN_PAUSE_MS = 250;
const list = (xs) => xs.map((x) => x.toFixed(0)).join(', ');

// The floor: the same form field, no WASM, no script.
const floorHtml = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>floor</title></head>'
  + '<body><form><input id="host" name="host"></form></body></html>';
const floor = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(floorHtml);
});
await new Promise((ok) => floor.listen(0, '127.0.0.1', ok));
const floorUrl = `http://127.0.0.1:${floor.address().port}/`;

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
// Timed in the page itself, the same way for the floor and the page: when
// #host enters the DOM, when the click lands, when the verdict enters the
// DOM. Playwright's own round trips (its click's checks, its polling for a
// selector) are the harness's cost, not the page's: they are printed apart.
const marks = () => {
  const b = (window.__bench = {});
  const seen = () => {
    if (!b.host && document.getElementById('host')) b.host = performance.now();
    // The page's own form (index.html's static one, #shell, is gone).
    if (!b.app && document.getElementById('find-mx')) b.app = performance.now();
    if (b.click && !b.verdict && document.querySelector('[data-testid=verdict]')) b.verdict = performance.now();
  };
  new MutationObserver(seen).observe(document, { subtree: true, childList: true });
  addEventListener('click', () => { b.click ??= performance.now(); }, true);
  // The page publishes its report once the whole of it is drawn, a frame
  // after the verdict.
  let report = null;
  Object.defineProperty(window, '__relaycheckReport', {
    configurable: true,
    get() { return report; },
    set(value) { report = value; if (b.click && !b.report) b.report = performance.now(); },
  });
  // Where an audit's time goes: the page's first frame to the bridge (the
  // audit socket is open), its last frame from the bridge (the audit itself,
  // the page's work on every frame included), then the verdict drawn.
  const ws = WebSocket.prototype;
  const send = ws.send;
  ws.send = function (data) {
    if (b.click && !b.firstSend) b.firstSend = performance.now();
    return send.call(this, data);
  };
  const onmessage = Object.getOwnPropertyDescriptor(ws, 'onmessage');
  Object.defineProperty(ws, 'onmessage', {
    configurable: true,
    get() { return onmessage.get.call(this); },
    set(handler) {
      onmessage.set.call(this, handler && function (e) {
        if (b.click && !b.verdict) b.lastReceive = performance.now();
        return handler.call(this, e);
      });
    },
  });
};
const bench = (page) => page.evaluate(() => window.__bench);
const firstRender = [];
const appReady = [];
const floorRender = [];
const labAudit = [];
const labAuditDriver = [];
const [labOpen, labTraffic, labDraw, labWhole] = [[], [], [], []];
try {
  // One untimed load of each first: the browser's own start-up is no page's cost.
  for (const target of [floorUrl, url]) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(target, { timeout: 15_000 });
    await page.waitForSelector('#host', { timeout: 15_000 });
    await context.close();
  }
  // A first render is a few tens of milliseconds on a machine whose noise is
  // about as large: three times as many loads as audits, floor and page in
  // turn, so that their medians compare.
  for (let i = 0; i < 2 * runs; i++) {
    for (const [target, into] of [[floorUrl, floorRender], [url, firstRender]]) {
      const context = await browser.newContext();
      await context.addInitScript(marks);
      const page = await context.newPage();
      await page.goto(target, { timeout: 15_000 });
      await page.waitForSelector('#host', { timeout: 15_000 });
      into.push((await bench(page)).host);
      await context.close();
    }
  }
  for (let i = 0; i < runs; i++) {
    // A fresh context each time: nothing cached.
    let context = await browser.newContext();
    await context.addInitScript(marks);
    let page = await context.newPage();
    await page.goto(floorUrl, { timeout: 15_000 });
    await page.waitForSelector('#host', { timeout: 15_000 });
    floorRender.push((await bench(page)).host);
    await context.close();

    context = await browser.newContext();
    await context.addInitScript(marks);
    page = await context.newPage();
    await page.goto(url, { timeout: 15_000 });
    await page.waitForSelector('#host', { timeout: 15_000 });
    // From navigation start to the form in the DOM (index.html's static form,
    // usable at once: typed text is kept, a submit is a permalink), then to the
    // WASM page in its place.
    firstRender.push((await bench(page)).host);
    await page.waitForSelector('#find-mx', { timeout: 15_000 });
    appReady.push((await bench(page)).app);
    const lab = page.locator('[data-testid=lab-target][data-name=closed]');
    await lab.waitFor({ timeout: 15_000 });
    // As a person does it: the pointer comes to the button, and the click
    // follows a quarter of a second later. A click in the very millisecond
    // the button appears would time the page's own start-up (its first
    // fetches, its rehearsal of an audit) as the audit's, and skip the
    // audit socket the pointer's approach opens.
    await lab.hover({ timeout: 15_000 });
    await page.waitForTimeout(HUMAN_PAUSE_MS);
    const t0 = await page.evaluate(() => performance.now());
    await lab.click();
    // Waited for from inside the page, not with Playwright's waitForSelector:
    // its polling (querySelectorAll on every animation frame) would run on
    // the page's main thread while the audit runs, and be counted in it.
    await page.evaluate(() => new Promise((ok, fail) => {
      const until = performance.now() + 30_000;
      const check = () => {
        if (window.__bench.verdict && window.__bench.report) ok();
        else if (performance.now() > until) fail(new Error('no verdict and whole report within 30 s'));
        else setTimeout(check, 25);
      };
      check();
    }));
    labAuditDriver.push((await page.evaluate(() => performance.now())) - t0);
    const b = await bench(page);
    labAudit.push(b.verdict - b.click);
    labOpen.push(b.firstSend - b.click);
    labTraffic.push(b.lastReceive - b.firstSend);
    labDraw.push(b.verdict - b.lastReceive);
    labWhole.push(b.report - b.click);
    await context.close();
  }
} finally {
  await browser.close();
  floor.close();
}
console.log(`first render: median ${median(firstRender).toFixed(0)} ms (of ${firstRender.length}: ${list(firstRender)})`);
console.log(`the WASM page in place of index.html's static form: median ${median(appReady).toFixed(0)} ms (of ${runs}: ${list(appReady)})`);
console.log(`browser floor (a page with only the form field): median ${median(floorRender).toFixed(0)} ms (of ${floorRender.length}: ${list(floorRender)})`);
console.log(`lab audit, click to verdict in the page: median ${median(labAudit).toFixed(0)} ms (of ${runs}: ${list(labAudit)})`);
console.log(`  of which: click to the first frame sent (the audit socket open) ${median(labOpen).toFixed(0)} ms; `
  + `to the last frame received (the audit through the bridge, the page's work on each frame included) ${median(labTraffic).toFixed(0)} ms; `
  + `to the verdict drawn ${median(labDraw).toFixed(0)} ms (medians of ${runs})`);
console.log(`lab audit, click to the whole report drawn (the steps, every probe, the transcript): median ${median(labWhole).toFixed(0)} ms (of ${runs}: ${list(labWhole)})`);
console.log(`lab audit with the harness's round trips (Playwright's click and polling): median ${median(labAuditDriver).toFixed(0)} ms (of ${runs}: ${list(labAuditDriver)})`);
console.log(`RESULT label=page first_render_ms=${median(firstRender).toFixed(1)} floor_render_ms=${median(floorRender).toFixed(1)} app_ready_ms=${median(appReady).toFixed(1)} lab_audit_ms=${median(labAudit).toFixed(1)} lab_audit_harness_ms=${median(labAuditDriver).toFixed(1)} lab_open_ms=${median(labOpen).toFixed(1)} lab_traffic_ms=${median(labTraffic).toFixed(1)} lab_draw_ms=${median(labDraw).toFixed(1)} lab_whole_report_ms=${median(labWhole).toFixed(1)} runs=${runs}`);
