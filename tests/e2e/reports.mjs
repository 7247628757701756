// The page as one driver among three: Debian's Chromium, driven by
// playwright-core, runs the page's audit of each target through a real
// `ws-bridge serve` and saves the report the page made
// (window.__relaycheckReport), so that ws-bridge/tests/drivers_agree.rs can
// hold it against `check --json` and `/api/check` for the same servers.
//
//   BRIDGE_URL=http://127.0.0.1:PORT/ PORTS=2525,2526 OUT_DIR=DIR node tests/e2e/reports.mjs
//
// Writes DIR/PORT.json for each port (targets are on 127.0.0.1), one line
// "ok - PORT VERDICT" or "not ok - PORT: WHY" each, then "N passed, M failed";
// the exit status is non-zero if anything failed. Every wait is bounded and
// the browser is always closed. Nothing here leaves loopback.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const AUDIT_WAIT_MS = 60_000; // a slow server (Exim's error limit, reconnects) still ends well within
const LOAD_WAIT_MS = 15_000;

const bridge = process.env.BRIDGE_URL;
const ports = (process.env.PORTS || '').split(',').filter(Boolean);
const out = process.env.OUT_DIR;
if (!bridge || ports.length === 0 || !out) {
  console.error('usage: BRIDGE_URL=… PORTS=p1,p2 OUT_DIR=dir node reports.mjs');
  process.exit(64);
}

let passed = 0;
let failed = 0;
const browser = await chromium.launch({
  executablePath: CHROMIUM,
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
try {
  for (const port of ports) {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(`uncaught: ${e}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
    try {
      await page.goto(`${bridge}?host=127.0.0.1&port=${port}&run=1`, { waitUntil: 'load', timeout: LOAD_WAIT_MS });
      await page.waitForFunction(() => window.__relaycheckReport != null, null, { timeout: AUDIT_WAIT_MS });
      const report = await page.evaluate(() => JSON.stringify(window.__relaycheckReport));
      writeFileSync(join(out, `${port}.json`), report);
      if (errors.length > 0) throw new Error(errors.join('; '));
      passed += 1;
      console.log(`ok - ${port} ${JSON.parse(report).verdict}`);
    } catch (error) {
      failed += 1;
      const shown = await page.locator('body').innerText({ timeout: 2_000 }).catch(() => '');
      console.log(`not ok - ${port}: ${String(error).split('\n')[0]}`);
      for (const line of shown.split('\n').slice(0, 40)) console.log(`# ${line}`);
    } finally {
      await page.close();
    }
  }
} finally {
  await browser.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
