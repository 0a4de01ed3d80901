#!/usr/bin/env node
// page.mjs — bench/nodes-list/run's browser side: loads provd's status page (GET /) in headless
// Chromium (tests/browser's playwright-core, Debian's /usr/bin/chromium) and prints, in ms from
// the start of the navigation, when the first tile and when the last of N tiles were in the
// document and painted (the animation frame after they were added), and the longest task that
// blocked the page's main thread meanwhile (the page does not answer input during one).
//
//   node page.mjs URL N
import { launchChromium } from '../../tests/browser/lib.mjs';

const [url, nArg] = process.argv.slice(2);
const n = Number(nArg);
if (!url || !(n > 0)) {
  console.error('usage: page.mjs URL N');
  process.exit(2);
}
const browser = await launchChromium();
try {
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
  await page.addInitScript((want) => {
    const seen = new Set();
    const r = (window.__bench = { first: null, all: null, longest: 0, blocked: 0 });
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) {
        r.longest = Math.max(r.longest, e.duration);
        r.blocked += Math.max(0, e.duration - 50);
      }
    }).observe({ type: 'longtask', buffered: true });
    new MutationObserver((records) => {
      for (const m of records)
        for (const a of m.addedNodes) {
          if (a.nodeType !== 1) continue;
          const tiles = a.classList.contains('tile') ? [a] : a.querySelectorAll('.tile');
          for (const t of tiles) seen.add(t.dataset.node);
        }
      if (seen.size > 0 && r.first === null) {
        r.first = -1;
        requestAnimationFrame(() => { r.first = performance.now(); });
      }
      if (seen.size >= want && r.all === null) {
        r.all = -1;
        requestAnimationFrame(() => { r.all = performance.now(); });
      }
    }).observe(document, { childList: true, subtree: true });
  }, n);
  await page.goto(url + '/', { waitUntil: 'commit', timeout: 60000 });
  await page.waitForFunction(() => window.__bench && window.__bench.all > 0, null, { timeout: 120000, polling: 100 });
  await page.waitForTimeout(300); // long tasks are reported after they end
  const r = await page.evaluate(() => window.__bench);
  const tiles = await page.$$eval('.tile', (t) => t.length);
  console.log(`first_ms=${r.first.toFixed(0)} all_ms=${r.all.toFixed(0)} longest_task_ms=${r.longest.toFixed(0)} blocked_ms=${r.blocked.toFixed(0)} tiles=${tiles}`);
} finally {
  await browser.close();
}
