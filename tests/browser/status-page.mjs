#!/usr/bin/env node
// status-page.mjs — the status page (GET /) of a running provd, in headless Chromium.
//
//   node status-page.mjs --url URL [--token TOKEN] [--expect NODE=STATE,...]
//                        [--expect-drift NODE=DRIFT,...] [--populate] [--screenshot FILE] [--no-live]
//                        [--node-pages N]
//
// Checks, against provd's own API: every node has a tile with the right data-state and the
// right background colour for its state; the header counts match; clicking a tile opens the
// node's history (newest first) and Escape closes it; state changes made through the API
// (a netboot, installer events) appear without a reload; after a network drop the event
// stream resumes where it stopped (Last-Event-ID) and catches up with a change made during
// the drop.  With --token, provd runs with read_auth = token: the page must first ask for
// the token, refuse a wrong one and then render with the right one.  The page must run under
// its Content-Security-Policy without a violation or a JavaScript error.
//
// Drift: every tile's data-drift is the API's; nodes drifted, reboot_pending or silent carry
// a visible mark with the word and a title that explains it, others none; the header's drift
// counts match the tiles and /v1/summary.  With --expect-drift (and live steps), a node
// installed live reports through the API: in_sync, then drifted, shown from the report
// events without a reload; and a report that changes only the booted system (no event) is
// shown by the page's periodic refresh (Playwright's clock moved past it).
//
// The page reads the node list page by page (GET /v1/nodes?limit=1000, then each page's "next"
// cursor): with --node-pages N it must have read exactly N pages, each after the first with the
// cursor the previous one gave, and show every node; then (this netboots node 1501, on the
// second page, even with --no-live) a change whose event reaches a fresh page before the
// node's page, read from provd before the change, is drawn: the tile shows the change.
//
// --populate drives the cluster to a mix of states first; --screenshot writes a PNG of the
// page at the end; --no-live skips the steps that change state.  Exit 0 ok, 1 failure.
import { parseArgs } from 'node:util';
import { Api, DRIFT_WORDS, STATES, STATE_COLOURS, check, fail, launchChromium, populate, startProxy } from './lib.mjs';

const { values: opt } = parseArgs({
  options: {
    url: { type: 'string' },
    token: { type: 'string' },
    expect: { type: 'string' },
    'expect-drift': { type: 'string' },
    populate: { type: 'boolean' },
    screenshot: { type: 'string' },
    'no-live': { type: 'boolean' },
    'node-pages': { type: 'string' },
  },
});
if (!opt.url) {
  console.error('usage: status-page.mjs --url URL [--token TOKEN] [--expect NODE=STATE,...] [--expect-drift NODE=DRIFT,...] [--populate] [--screenshot FILE] [--no-live] [--node-pages N]');
  process.exit(2);
}

const WAIT = 10000; // a change made through the API must be on the page within this
const api = new Api(opt.url, opt.token);
const ok = (msg) => console.log(`ok - ${msg}`);

// Every tile as the page shows it, with its computed background colour.
const tiles = (page) => page.evaluate(() => [...document.querySelectorAll('.tile')].map((t) => ({
  node: t.dataset.node,
  state: t.dataset.state,
  bg: getComputedStyle(t).backgroundColor,
  group: t.closest('[data-group]')?.dataset.group,
  text: t.textContent,
  title: t.title,
  drift: t.dataset.drift,
  marks: [...t.querySelectorAll('.drift')].map((m) => {
    const r = m.getBoundingClientRect();
    const cs = getComputedStyle(m);
    return { drift: m.dataset.drift, text: m.textContent, title: m.title, visible: r.width > 0 && r.height > 0 && cs.visibility === 'visible' && cs.display !== 'none',
      fg: cs.color, bg: cs.backgroundColor };
  }),
})));

// The drift mark of one tile, checked against the API's drift `d` for node `name`.
function checkMark(t, name, d) {
  check(t.drift === d, `tile ${name}: data-drift ${t.drift}, API drift ${d}`);
  const word = DRIFT_WORDS[d];
  if (!word) {
    check(t.marks.length === 0, `tile ${name} (${d}) has a drift mark: ${JSON.stringify(t.marks)}`);
    return;
  }
  check(t.marks.length === 1, `tile ${name} (${d}) has ${t.marks.length} drift marks`);
  const m = t.marks[0];
  check(m.drift === d && m.visible, `tile ${name}: drift mark ${JSON.stringify(m)} is not a visible ${d} mark`);
  check(m.text.includes(word), `tile ${name}: drift mark says "${m.text}", not "${word}"`);
  check(m.fg !== m.bg, `tile ${name}: drift mark in one colour`);
  check(m.title.startsWith(`${word}: ${name} `) && m.title.length > word.length + name.length + 30,
    `tile ${name}: drift mark title does not explain it: "${m.title}"`);
  check(t.title.includes(word), `tile ${name}: title does not mention ${word}: "${t.title}"`);
}

async function waitDrift(page, node, drift, what) {
  try {
    await page.waitForFunction(([n, d]) => document.querySelector(`.tile[data-node="${n}"]`)?.dataset.drift === d,
      [node, drift], { timeout: WAIT });
  } catch (e) {
    const now = await page.evaluate((n) => document.querySelector(`.tile[data-node="${n}"]`)?.dataset.drift, node);
    fail(`${what}: tile ${node} did not become ${drift} within ${WAIT / 1000} s (shows ${now})`);
  }
  const t = (await tiles(page)).find((x) => x.node === node);
  checkMark(t, node, drift);
}

async function waitTile(page, node, state, what) {
  try {
    await page.waitForFunction(([n, s]) => {
      const t = document.querySelector(`.tile[data-node="${n}"]`);
      return t && t.dataset.state === s;
    }, [node, state], { timeout: WAIT });
  } catch (e) {
    const now = await page.evaluate((n) => document.querySelector(`.tile[data-node="${n}"]`)?.dataset.state, node);
    fail(`${what}: tile ${node} did not become ${state} within ${WAIT / 1000} s (shows ${now})`);
  }
}

// Tiles and header counts agree with GET /v1/nodes and /v1/summary (and with --expect).
async function checkTiles(page, { withExpect = true } = {}) {
  const { nodes } = await api.nodes();
  await page.waitForFunction((n) => document.querySelectorAll('.tile').length === n, nodes.length, { timeout: WAIT })
    .catch(async () => fail(`expected ${nodes.length} tiles, the page shows ${await page.$$eval('.tile', (t) => t.length)}; ` +
      `its message: "${await page.textContent('#error')}", connection: ${await page.getAttribute('#conn', 'data-conn')}`));
  const shown = new Map((await tiles(page)).map((t) => [t.node, t]));
  check(shown.size === nodes.length, `tiles are not unique per node: ${shown.size} != ${nodes.length}`);
  const expected = new Map((withExpect && opt.expect || '').split(',').filter(Boolean).map((kv) => kv.split('=')));
  for (const [node, state] of expected) {
    const n = nodes.find((x) => x.name === node);
    check(n && n.state === state, `--expect ${node}=${state}, but the API says ${n && n.state}`);
  }
  for (const n of nodes) {
    const t = shown.get(n.name);
    check(t, `no tile for node ${n.name}`);
    check(t.state === n.state, `tile ${n.name}: data-state ${t.state}, API state ${n.state}`);
    check(t.bg === STATE_COLOURS[n.state], `tile ${n.name} (${n.state}): background ${t.bg}, expected ${STATE_COLOURS[n.state]}`);
    check(t.text.includes(n.name) && t.text.includes(n.state), `tile ${n.name} does not say its name and state: "${t.text}"`);
    const group = n.rack ? `rack:${n.rack}` : `prefix:${n.name.replace(/[-_.0-9]+$/, '')}`;
    check(t.group === group, `tile ${n.name} is in group ${t.group}, expected ${group}`);
    check(!/null|undefined|NaN|\[object/.test(t.text), `tile ${n.name} shows a JavaScript artefact: "${t.text}"`);
    if (n.state === 'installing' && n.attempt && n.attempt.phase)
      check(t.text.includes(n.attempt.phase), `installing tile ${n.name} does not show phase ${n.attempt.phase}: "${t.text}"`);
    checkMark(t, n.name, n.drift);
  }
  const expectedDrift = new Map((withExpect && opt['expect-drift'] || '').split(',').filter(Boolean).map((kv) => kv.split('=')));
  for (const [node, drift] of expectedDrift) {
    const n = nodes.find((x) => x.name === node);
    check(n && n.drift === drift, `--expect-drift ${node}=${drift}, but the API says ${n && n.drift}`);
  }
  const summary = await api.get('/v1/summary');
  const counts = await page.evaluate(() => Object.fromEntries(
    [...document.querySelectorAll('[data-count]')].map((e) => [e.dataset.count, Number(e.textContent)])));
  const total = await page.evaluate(() => Number(document.getElementById('count-total').textContent));
  for (const s of STATES) {
    const tilesInState = nodes.filter((n) => n.state === s).length;
    check(counts[s] === tilesInState && counts[s] === summary.states[s],
      `count of ${s}: page ${counts[s]}, tiles ${tilesInState}, /v1/summary ${summary.states[s]}`);
  }
  check(total === nodes.length && total === summary.total, `total: page ${total}, API ${summary.total}`);
  const driftCounts = await page.evaluate(() => Object.fromEntries(
    [...document.querySelectorAll('[data-drift-count]')].map((e) => [e.dataset.driftCount, Number(e.textContent)])));
  check(Object.keys(driftCounts).sort().join() === Object.keys(DRIFT_WORDS).sort().join(), `drift counts shown: ${JSON.stringify(driftCounts)}`);
  for (const d of Object.keys(DRIFT_WORDS)) {
    const marked = nodes.filter((n) => n.drift === d).length;
    check(driftCounts[d] === marked && marked === summary.drift[d],
      `drift count of ${d}: page ${driftCounts[d]}, tiles ${marked}, /v1/summary ${summary.drift[d]}`);
  }
  const groups = await page.$$eval('[data-group]', (g) => g.map((e) => e.dataset.group));
  const want = [...new Set(nodes.map((n) => n.rack ? `rack:${n.rack}` : `prefix:${n.name.replace(/[-_.0-9]+$/, '')}`))];
  check(JSON.stringify(groups) === JSON.stringify(want), `groups on the page ${groups}, expected ${want} (inventory order)`);
  const seen = new Set(nodes.map((n) => n.state));
  return { nodes, states: [...seen], groups, drifts: [...new Set(nodes.map((n) => n.drift))] };
}

async function checkHistory(page, node) {
  const tile = page.locator(`.tile[data-node="${node}"]`);
  await tile.click();
  const dialog = page.locator('#history');
  await dialog.waitFor({ state: 'visible', timeout: WAIT });
  const api_ = await api.get(`/v1/nodes/${node}/history`);
  await page.waitForFunction((n) => document.querySelectorAll('#history-rows tr').length === n,
    api_.history.length, { timeout: WAIT }).catch(() => fail(`history of ${node}: expected ${api_.history.length} rows`));
  const rows = await page.$$eval('#history-rows tr', (trs) => trs.map((tr) => ({ id: Number(tr.dataset.id), to: tr.dataset.to, text: tr.textContent })));
  check(await page.textContent('#history-title') === node, 'history dialog title is not the node name');
  api_.history.forEach((h, i) => {
    check(rows[i].id === h.id && rows[i].to === h.to, `history row ${i} of ${node}: ${JSON.stringify(rows[i])}, API ${JSON.stringify(h)}`);
    if (h.message) check(rows[i].text.includes(h.message), `history row ${i} lacks the message "${h.message}"`);
  });
  for (let i = 1; i < rows.length; i++) check(rows[i - 1].id > rows[i].id, `history of ${node} is not newest first`);
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden', timeout: WAIT });
  check(await page.evaluate((n) => document.activeElement?.dataset?.node === n, node), 'focus did not return to the tile after Escape');
  await page.keyboard.press('Enter'); // tiles are buttons: the keyboard opens the panel too
  await dialog.waitFor({ state: 'visible', timeout: WAIT }).catch(() => fail('Enter on a focused tile did not open its history'));
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden', timeout: WAIT });
  ok(`clicking ${node} shows its ${rows.length} history entries, newest first; Escape closes the panel; Enter opens it`);
}

async function counts(page) {
  return page.evaluate(() => Object.fromEntries([...document.querySelectorAll('[data-count]')].map((e) => [e.dataset.count, Number(e.textContent)])));
}

// Changes through the API appear without a reload; the open history panel follows them.
async function checkLive(page, nodes) {
  const node = nodes.find((n) => n.state === 'new');
  check(node, 'no node in state new left for the live update test');
  await page.evaluate(() => { window.__provdMarker = 'no reload'; });
  await page.waitForSelector('#conn[data-conn="live"]', { timeout: WAIT }).catch(() => fail('event stream not live'));
  const before = await counts(page);

  const token = await api.boot(node.mac[0]);
  await waitTile(page, node.name, 'netbooting', 'netboot (GET /v1/boot)');
  const after = await counts(page);
  check(after.new === before.new - 1 && after.netbooting === before.netbooting + 1,
    `counts after the netboot: ${JSON.stringify(before)} -> ${JSON.stringify(after)}`);
  check(await page.getAttribute('#events li:first-child', 'data-node') === node.name, 'newest event in the list is not the netboot');
  ok(`GET /v1/boot/${node.mac[0]}: ${node.name} new -> netbooting on the page, counts and events follow`);

  await api.report(token, 'started', 'installer up');
  await api.report(token, 'partitioning', '<img src=x onerror="window.__xss=1"> & "quotes"');
  await waitTile(page, node.name, 'installing', 'installer event');
  await page.waitForFunction((n) => document.querySelector(`.tile[data-node="${n}"]`).textContent.includes('partitioning'),
    node.name, { timeout: WAIT }).catch(() => fail(`tile ${node.name} does not show the phase "partitioning"`));
  const tile = (await tiles(page)).find((t) => t.node === node.name);
  check(tile.bg === STATE_COLOURS.installing, `tile ${node.name} installing is ${tile.bg}`);
  const msg = await page.textContent('#events li:first-child .msg');
  check(msg.includes('<img src=x onerror="window.__xss=1"> & "quotes"'), `installer message not shown verbatim: ${msg}`);
  check(!(await page.evaluate(() => window.__xss)) && !(await page.$('#events img')), 'an installer message was rendered as HTML');
  ok(`installer events: ${node.name} -> installing (phase partitioning); messages shown as text, not HTML`);

  await page.click(`.tile[data-node="${node.name}"]`);
  await page.waitForSelector('#history-rows tr', { timeout: WAIT });
  // the installer asks for the node credential before it reports success
  const credential = opt['expect-drift'] ? await api.credential(token) : null;
  await api.report(token, 'succeeded');
  await waitTile(page, node.name, 'installed', 'installer success');
  await page.waitForFunction(() => document.querySelector('#history-rows tr')?.dataset.to === 'installed', null, { timeout: WAIT })
    .catch(() => fail('the open history panel did not get the new entry'));
  await page.keyboard.press('Escape');
  check(await page.evaluate(() => window.__provdMarker) === 'no reload', 'the page was reloaded');
  ok(`${node.name} -> installed live, also in the open history panel; no reload`);
  if (credential) {
    // The installed node reports what it runs: its toplevel (in sync), then another system.
    const toplevel = (await api.get(`/v1/nodes/${node.name}`)).system.toplevel;
    check(/^\/nix\/store\/[0-9a-df-np-sv-z]{32}-/.test(toplevel), `toplevel of ${node.name} is no store path: ${toplevel}`);
    await waitDrift(page, node.name, 'unknown', 'installed, no report yet');
    check((await api.nodeReport(node.name, credential, toplevel)).drift === 'in_sync', 'report of the toplevel is not in_sync');
    await waitDrift(page, node.name, 'in_sync', 'a report of the inventory\'s toplevel');
    const other = `/nix/store/${'b'.repeat(32)}-nixos-system-${node.name}`;
    check((await api.nodeReport(node.name, credential, other)).drift === 'drifted', 'report of another system is not drifted');
    await waitDrift(page, node.name, 'drifted', 'a report of another system');
    check(await page.evaluate(() => window.__provdMarker) === 'no reload', 'the page was reloaded');
    ok(`${node.name} reports: unknown -> in_sync -> drifted on the page from the report events, marked "drifted" with an explanation`);
    node.credential = credential;
    node.toplevel = toplevel;
  }
  return node;
}

// Drift that changes without an event (a report that changes only the booted system): the
// page's periodic refresh shows it.  A page of its own, with Playwright's clock, moved past
// the refresh period instead of waiting it out.
async function checkDriftRefresh(browser, proxy, node) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  try {
    await api.nodeReport(node.name, node.credential, node.toplevel); // in_sync again (an event)
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.clock.install();
    await page.goto(proxy.url + '/', { timeout: WAIT });
    if (opt.token) {
      await page.fill('#token', opt.token);
      await page.click('#auth button[type=submit]');
    }
    await waitDrift(page, node.name, 'in_sync', 'fresh page');
    const r = await api.nodeReport(node.name, node.credential, node.toplevel, `/nix/store/${'c'.repeat(32)}-nixos-system-${node.name}`);
    check(r.drift === 'reboot_pending' && r.changed === false, `report of another booted system: ${JSON.stringify(r)}`);
    await page.waitForTimeout(1500);
    check(await page.getAttribute(`.tile[data-node="${node.name}"]`, 'data-drift') === 'in_sync',
      'the page changed without an event or a refresh?');
    await page.clock.fastForward(31000);
    await waitDrift(page, node.name, 'reboot_pending', 'the periodic refresh (no event)');
    check(errors.length === 0, `JavaScript errors: ${errors.join('; ')}`);
    ok(`a report that changed only the booted system (no event): ${node.name} marked "reboot pending" by the refresh 30 s later`);
  } finally {
    await context.close();
  }
}

// A dropped connection: the stream reconnects with Last-Event-ID and gets what it missed.
async function checkResume(page, proxy) {
  const { nodes } = await api.nodes();
  const node = nodes.find((n) => n.state === 'new');
  if (!node) {
    console.log('# no node in state new left: resume test skipped');
    return;
  }
  proxy.cut();
  await page.waitForSelector('#conn[data-conn="reconnecting"]', { timeout: WAIT })
    .catch(() => fail('the page did not notice the dropped event stream'));
  await api.boot(node.mac[0]); // straight to provd, while the page cannot reach it
  await new Promise((r) => setTimeout(r, 1500));
  check(await page.getAttribute(`.tile[data-node="${node.name}"]`, 'data-state') === 'new', 'page changed while cut off?');
  proxy.restore();
  await waitTile(page, node.name, 'netbooting', 'change made during a network drop');
  await page.waitForSelector('#conn[data-conn="live"]', { timeout: WAIT });
  check(await page.evaluate(() => window.__provdMarker) === 'no reload', 'the page was reloaded');
  ok(`network drop: the stream reconnected and caught up (${node.name} new -> netbooting while cut off)`);
}

// A change to a node whose page the page has asked for but not drawn yet: the page (read from
// provd before the change) is held back in the browser until the change's event has reached
// the page, then let through.  The tile must show the change, not the older page.
async function checkEventDuringPaging(browser, proxyUrl, nodes) {
  const target = nodes[Math.min(nodes.length - 1, 1500)]; // on the second page of 1000
  check(target.state === 'new', `${target.name} is ${target.state}, not new`);
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  let fetched, release;
  const wasFetched = new Promise((r) => { fetched = r; });
  const gate = new Promise((r) => { release = r; });
  await page.route((u) => u.pathname === '/v1/nodes' && u.searchParams.has('cursor'), async (route) => {
    const resp = await route.fetch(); // provd answers now, before the change
    fetched();
    await gate;
    await route.fulfill({ response: resp });
  });
  await page.goto(proxyUrl + '/', { timeout: WAIT });
  await wasFetched;
  await api.boot(target.mac[0]); // new -> netbooting: an event the page gets before that page
  await page.waitForSelector(`#events li[data-node="${target.name}"]`, { timeout: WAIT })
    .catch(() => fail(`the event of ${target.name} did not reach the page`));
  check(await page.$(`.tile[data-node="${target.name}"]`) === null, `${target.name}'s tile is drawn before its page came`);
  release();
  await waitTile(page, target.name, 'netbooting', 'an event that came before the node\'s (older) page');
  await page.waitForFunction((n) => document.querySelectorAll('.tile').length === n, nodes.length, { timeout: WAIT });
  const shown = await page.$eval('[data-count="netbooting"]', (e) => Number(e.textContent));
  const summary = await api.get('/v1/summary');
  check(shown === summary.states.netbooting, `header: ${shown} netbooting, /v1/summary ${summary.states.netbooting}`);
  check(errors.length === 0, `JavaScript errors: ${errors.join('; ')}`);
  await page.context().close();
  ok(`an event for ${target.name} that came while its page was on the way: applied after the page, tile and counts right`);
}

async function main() {
  if (opt.populate) await populate(api);
  const proxy = await startProxy(opt.url);
  const browser = await launchChromium();
  const problems = [];
  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, colorScheme: 'light' });
    const page = await context.newPage();
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        (window.__csp = window.__csp || []).push(`${e.violatedDirective} ${e.blockedURI}`);
      });
    });
    page.on('pageerror', (e) => problems.push(`JavaScript error: ${e.message}`));
    page.on('console', (m) => { if (/Content.Security.Policy/i.test(m.text())) problems.push(`CSP: ${m.text()}`); });
    let loads = 0;
    page.on('framenavigated', (f) => { if (f === page.mainFrame()) loads++; });
    page.on('request', (r) => {
      if (!r.url().startsWith(proxy.url) && !r.url().startsWith('data:')) problems.push(`request outside provd: ${r.url()}`);
    });
    // The node list pages the page reads, with the cursor each answer gave.
    const listReads = [];
    page.on('response', async (r) => {
      const u = new URL(r.url());
      if (u.pathname !== '/v1/nodes' || r.request().method() !== 'GET') return;
      const entry = { limit: u.searchParams.get('limit'), cursor: u.searchParams.get('cursor'), name: u.searchParams.get('name'),
        next: undefined, n: 0 };
      listReads.push(entry);
      try {
        const body = await r.json();
        entry.next = body.next;
        entry.n = body.nodes.length;
      } catch (e) { entry.next = 'unreadable'; }
    });

    const resp = await page.goto(proxy.url + '/', { timeout: WAIT });
    check(resp.status() === 200, `GET /: ${resp.status()}`);
    check(/^text\/html; charset=utf-8$/i.test(resp.headers()['content-type'] || ''), `GET / Content-Type: ${resp.headers()['content-type']}`);
    check(resp.headers()['content-security-policy'], 'GET / has no Content-Security-Policy');

    if (opt.token) {
      await page.waitForSelector('#auth:not([hidden])', { timeout: WAIT }).catch(() => fail('no token form with read_auth = token'));
      check(await page.$$eval('.tile', (t) => t.length) === 0, 'tiles shown without a token');
      await page.fill('#token', 'pvd_' + 'A'.repeat(43));
      await page.click('#auth button[type=submit]');
      await page.waitForFunction(() => document.getElementById('auth-error').textContent.length > 0, null, { timeout: WAIT })
        .catch(() => fail('a wrong token was not refused'));
      check(await page.$$eval('.tile', (t) => t.length) === 0, 'tiles shown with a wrong token');
      await page.fill('#token', opt.token);
      await page.click('#auth button[type=submit]');
      await page.waitForSelector('.tile', { timeout: WAIT }).catch(() => fail('no tiles after entering the right token'));
      check(await page.evaluate(() => sessionStorage.length === 1), 'token not kept in sessionStorage');
      ok('read_auth = token: the page asks for a token, refuses a wrong one, renders with the right one');
    }

    const { nodes, states, groups, drifts } = await checkTiles(page);
    if (opt['node-pages']) {
      const want = Number(opt['node-pages']);
      const reads = listReads.filter((x) => x.name === null); // not a refresh of one node
      check(reads.length >= want, `the page read ${reads.length} node list pages, expected ${want}`);
      const first = reads.slice(0, want);
      check(first[0].cursor === null, `the first page read has a cursor: ${JSON.stringify(first[0])}`);
      for (let i = 1; i < want; i++)
        check(first[i].cursor === first[i - 1].next && first[i - 1].n > 0,
          `page ${i + 1} read with cursor ${first[i].cursor}, the previous page gave ${first[i - 1].next}`);
      check(first[want - 1].next === null, `page ${want} has a next page: ${JSON.stringify(first[want - 1])}`);
      check(first.every((x) => x.limit === '1000'), `pages read with limits ${first.map((x) => x.limit)}`);
      check(first.reduce((a, x) => a + x.n, 0) === nodes.length, `the pages held ${first.reduce((a, x) => a + x.n, 0)} nodes, the API has ${nodes.length}`);
      ok(`the page read the node list in ${want} pages of 1000, following the cursors, and shows all ${nodes.length} nodes`);
      await checkEventDuringPaging(browser, proxy.url, nodes);
    }
    ok(`${nodes.length} tiles with the right state and colour (${states.join(', ')}) in groups ${groups.join(', ')}; counts match /v1/summary`);
    ok(`drift marks as the API says (${drifts.join(', ')}); drift counts match /v1/summary`);
    const distinct = new Set(Object.values(STATE_COLOURS));
    check(distinct.size === STATES.length, 'two states share a colour');
    const legend = await page.$$eval('#counts .swatch', (s) => s.map((e) => [e.dataset.state, getComputedStyle(e).backgroundColor]));
    for (const [s, c] of legend) check(c === STATE_COLOURS[s], `legend colour of ${s}: ${c}`);
    check(legend.length === STATES.length, `legend shows ${legend.length} states`);
    ok(`legend: all ${STATES.length} states, each its own colour`);

    const withHistory = nodes.find((n) => n.state !== 'new');
    if (withHistory) await checkHistory(page, withHistory.name);

    let live = null;
    if (!opt['no-live']) {
      live = await checkLive(page, nodes);
      await checkResume(page, proxy);
      await checkTiles(page, { withExpect: false });
      ok('after the live changes, every tile and count still matches the API');
    }
    check(loads === 1, `the page navigated ${loads} times`);
    const csp = await page.evaluate(() => window.__csp || []);
    check(csp.length === 0, `Content-Security-Policy violations: ${csp.join('; ')}`);
    check(problems.length === 0, problems.join('\n'));
    ok('no JavaScript error, no CSP violation, no request outside provd');
    if (live && live.credential) await checkDriftRefresh(browser, proxy, live);

    if (opt.screenshot) {
      await page.evaluate(() => document.activeElement?.blur());
      await page.mouse.move(0, 0);
      await page.waitForTimeout(1800); // let the change highlight fade
      await page.screenshot({ path: opt.screenshot, fullPage: true });
      ok(`screenshot: ${opt.screenshot}`);
    }
  } finally {
    await browser.close();
    await proxy.close();
  }
}

main().then(() => process.exit(0), (e) => {
  console.error(`FAIL [status-page.mjs]: ${e.testFailure ? e.message : e.stack}`);
  process.exit(1);
});
