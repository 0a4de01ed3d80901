// lib.mjs — shared pieces of the status-page browser test and the screenshot script:
// a small client for provd's HTTP API, driving nodes to a provision state through it (the
// same calls pixiecore and the installer make), a TCP proxy that can cut connections, and
// launching Debian's Chromium with playwright-core.
import net from 'node:net';
import { chromium } from 'playwright-core';

// The colour of each provision state on the page (daemon/status-page.html, Okabe-Ito palette),
// as getComputedStyle() reports it.  Written out here, not read from the page, so that a
// page that paints a state the wrong colour fails.
export const STATE_COLOURS = {
  new: 'rgb(201, 206, 214)',
  pending: 'rgb(240, 228, 66)',
  netbooting: 'rgb(86, 180, 233)',
  installing: 'rgb(0, 114, 178)',
  installed: 'rgb(0, 158, 115)',
  failed: 'rgb(213, 94, 0)',
  booting: 'rgb(230, 159, 0)',
  running: 'rgb(204, 121, 167)',
};
export const STATES = Object.keys(STATE_COLOURS);

// The drift states a tile is marked for (daemon/status-page.html), with the word its mark
// shows; in_sync and unknown have no mark.
export const DRIFT_WORDS = { drifted: 'drifted', reboot_pending: 'reboot pending', silent: 'silent' };

export function fail(msg) {
  const e = new Error(msg);
  e.testFailure = true;
  throw e;
}

export function check(cond, msg) {
  if (!cond) fail(msg);
}

// provd's HTTP API.  `token` (an API token, or null) goes out as Authorization: Bearer on reads.
export class Api {
  constructor(url, token) {
    this.url = url.replace(/\/+$/, '');
    this.token = token || null;
  }

  async request(method, path, { body, bearer, expect } = {}) {
    const headers = {};
    const auth = bearer !== undefined ? bearer : this.token;
    if (auth) headers.Authorization = `Bearer ${auth}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const resp = await fetch(this.url + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10000),
    });
    const text = await resp.text();
    if (expect !== undefined && resp.status !== expect)
      fail(`${method} ${path}: expected ${expect}, got ${resp.status}: ${text.slice(0, 300)}`);
    let json = null;
    try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
    return { status: resp.status, json, text };
  }

  async get(path) {
    return (await this.request('GET', path, { expect: 200 })).json;
  }

  // Every node of GET /v1/nodes (with `query`, e.g. "state=new"), following "next" to the last
  // page.  Returns {nodes, pages}.
  async nodes(query = '') {
    const nodes = [];
    let cursor = null, pages = 0;
    do {
      const q = [query, cursor && `cursor=${encodeURIComponent(cursor)}`].filter(Boolean).join('&');
      const body = await this.get('/v1/nodes' + (q ? '?' + q : ''));
      nodes.push(...body.nodes);
      pages++;
      cursor = body.next;
      check(cursor === null || typeof cursor === 'string', `GET /v1/nodes: next is ${JSON.stringify(cursor)}`);
    } while (cursor);
    return { nodes, pages };
  }

  // Network-boots a MAC (GET /v1/boot/<mac>, as pixiecore does) and returns the install token
  // from the answer's command line (provd.token=...).
  async boot(mac) {
    const r = await this.request('GET', `/v1/boot/${mac}`, { bearer: null, expect: 200 });
    const tok = r.json.cmdline.split(/\s+/).find((w) => w.startsWith('provd.token='));
    check(tok, `boot answer for ${mac} has no provd.token=: ${r.text}`);
    return tok.slice('provd.token='.length);
  }

  // Reports an installer phase with an install token (POST /v1/install/events).
  async report(token, phase, message) {
    const body = message === undefined ? { phase } : { phase, message };
    return (await this.request('POST', '/v1/install/events', { body, bearer: token, expect: 200 })).json;
  }

  // The node credential of the open attempt of install token `token`
  // (POST /v1/install/credential, as the installer asks for it).  Kept in memory only.
  async credential(token) {
    return (await this.request('POST', '/v1/install/credential', { bearer: token, expect: 200 })).json.credential;
  }

  // A node's report of what it runs (POST /v1/nodes/<name>/report, as provd-node-report.sh
  // sends it).  Returns provd's answer ({node, drift, expected, changed}).
  async nodeReport(name, credential, running, booted) {
    const body = { running, booted: booted || running, kernel: '6.1.0-test', uptime: 42.5 };
    return (await this.request('POST', `/v1/nodes/${name}/report`, { body, bearer: credential, expect: 200 })).json;
  }

  // Drives a `new` node to `target`: "netbooting", "installing[:phase...]", "installed" or
  // "failed[:message]".  Returns the open attempt's install token (or null once it ended).
  async drive(node, target) {
    const [state, ...rest] = target.split(':');
    const arg = rest.join(':');
    if (state === 'new') return null;
    const mac = node.mac[0];
    const token = await this.boot(mac);
    if (state === 'netbooting') return token;
    await this.report(token, 'started', 'installer up');
    if (state === 'installing') {
      for (const phase of arg ? arg.split('/') : []) await this.report(token, phase);
      return token;
    }
    if (state === 'installed') {
      await this.report(token, 'partitioning');
      await this.report(token, 'installing');
      await this.report(token, 'succeeded', 'nixos-install done, rebooting');
      return null;
    }
    if (state === 'failed') {
      await this.report(token, 'failed', arg || 'install script exited with status 1');
      return null;
    }
    fail(`cannot drive a node to "${target}"`);
  }
}

// A TCP proxy in front of provd.  cut() drops every connection and refuses new ones until
// restore(): to the page that is a network drop (its event stream must resume afterwards).
export async function startProxy(url) {
  const target = new URL(url);
  const sockets = new Set();
  let refusing = false;
  const server = net.createServer((down) => {
    if (refusing) {
      down.destroy();
      return;
    }
    const up = net.connect(Number(target.port), target.hostname);
    for (const s of [down, up]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => { down.destroy(); up.destroy(); });
    }
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    cut() {
      refusing = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      refusing = false;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

// Debian's Chromium (never a browser downloaded by playwright).  $CHROMIUM overrides the path.
export async function launchChromium() {
  const args = ['--disable-dev-shm-usage'];
  // Chromium's sandbox refuses to run as root (CI containers).
  if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args,
    timeout: 30000,
  });
}

// Drives the nodes of /v1/nodes (every page) to a realistic mix of states, for the screenshot.  Each node
// has a list of steps (netboot, installer events); the steps of all nodes are interleaved in
// a fixed pseudo-random order, as when a rack powers on together, so the recent events mix
// nodes and outcomes.  Every transition goes through the API.
export async function populate(api) {
  const { nodes } = await api.nodes();
  const failures = [
    'nix-store: cannot substitute /nix/store/…-linux-firmware: HTTP 502 from cache',
    'sgdisk: /dev/nvme0n1: no such device',
  ];
  const plans = nodes.map((node, i) => {
    const k = (i * 7) % 20; // spread the states over the racks, deterministically
    const steps = ['boot', 'started', 'partitioning', 'installing'];
    if (k < 12) return { node, steps: [...steps, 'succeeded'] };
    if (k < 15) return { node, steps: steps.slice(0, 2 + (i % 3)) };
    if (k < 17) return { node, steps: ['boot'] };
    if (k < 18) return { node, steps: ['boot', 'started', 'failed'], message: failures[i % failures.length] };
    return { node, steps: [] };
  }).filter((p) => p.steps.length);
  let seed = 20240601;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (;;) {
    const left = plans.filter((p) => p.steps.length);
    if (!left.length) break;
    const p = left[Math.floor(random() * left.length)];
    const step = p.steps.shift();
    if (step === 'boot') p.token = await api.boot(p.node.mac[0]);
    else if (step === 'failed') await api.report(p.token, 'failed', p.message);
    else await api.report(p.token, step);
  }
}
