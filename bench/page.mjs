// The page's weight and speed in headless Chromium (Debian's, driven by the
// playwright-core that tests/e2e installs): time to first render, and time to
// a finished audit of the bridge's built-in lab. Loopback only; bounded.
//
//   BRIDGE_URL=http://127.0.0.1:PORT/ RUNS=5 node bench/page.mjs
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '../tests/e2e/package.json'));
const { chromium } = require('playwright-core');

const url = process.env.BRIDGE_URL;
const runs = Number(process.env.RUNS || 5);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const firstRender = [];
const labAudit = [];
try {
  for (let i = 0; i < runs; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(url, { timeout: 15_000 });
    await page.waitForSelector('#host', { timeout: 15_000 });
    // From navigation start to the form in the DOM: WASM fetched, compiled and rendered.
    firstRender.push(await page.evaluate(() => performance.now()));
    const lab = page.locator('[data-testid=lab-target][data-name=closed]');
    await lab.waitFor({ timeout: 15_000 });
    const t0 = await page.evaluate(() => performance.now());
    await lab.click();
    await page.waitForSelector('[data-testid=verdict]', { timeout: 30_000 });
    labAudit.push((await page.evaluate(() => performance.now())) - t0);
    await context.close();
  }
} finally {
  await browser.close();
}
console.log(`first render: median ${median(firstRender).toFixed(0)} ms (of ${runs}: ${firstRender.map((x) => x.toFixed(0)).join(', ')})`);
console.log(`lab audit, click to verdict: median ${median(labAudit).toFixed(0)} ms (of ${runs}: ${labAudit.map((x) => x.toFixed(0)).join(', ')})`);
