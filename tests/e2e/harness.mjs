// Shared by the end-to-end test and the figures script: serve the built
// dist/ on 127.0.0.1 and drive Debian's Chromium with playwright-core.
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { before, after } from 'node:test';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const root = fileURLToPath(new URL('../..', import.meta.url));
export const dist = join(root, 'dist');

const types = {
  '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm',
  '.css': 'text/css', '.svg': 'image/svg+xml', '.json': 'application/json',
};

/** Serves dist/ on a free loopback port; resolves to { url, close }. */
export async function serveDist() {
  await stat(join(dist, 'index.html')).catch(() => {
    throw new Error(`no ${dist}/index.html: build it first with "trunk build"`);
  });
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(dist, path === '/' ? 'index.html' : path);
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((ok) => server.close(ok)) };
}

/** Headless Debian Chromium, with the flags this machine's closed network needs. */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A page that records console errors and uncaught exceptions into `errors`. */
export async function newPage(browser, errors) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
  return page;
}

/**
 * Opens `query` (e.g. "?scene=h") of the served page in a new page of
 * `ctx` (a fresh 1280×800 context unless given one, with `options`),
 * recording console errors and uncaught exceptions into `errors`.
 */
export async function openScene(browser, base, errors, query, { ctx, ...options } = {}) {
  ctx ??= await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  const page = await ctx.newPage();
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
  await page.goto(new URL(query, base).href);
  await page.waitForSelector('#scene-title');
  // Scenes but a and b are in the full build: wait for the hand-over.
  await page.waitForFunction(() => document.querySelector('#scene-title') && !document.querySelector('#scene-loading'));
  return page;
}

/**
 * For a test file on the built page: before its tests dist/ is served,
 * Chromium launched and tests/e2e/out made; after them both are closed.
 * `suite.open(query, options)` opens a scene (see openScene), `suite.browser`
 * is there for contexts of a test's own, and `suite.errors` collects every
 * console error and uncaught exception.
 */
export function distSuite() {
  const suite = { errors: [], out: join(root, 'tests/e2e/out') };
  before(async () => {
    await mkdir(suite.out, { recursive: true });
    suite.server = await serveDist();
    suite.browser = await launch();
  });
  after(async () => {
    await suite.browser?.close();
    await suite.server?.close();
  });
  suite.open = (query, options) => openScene(suite.browser, suite.server.url, suite.errors, query, options);
  return suite;
}

/** The podnet binary the lab tests run (PODNET, else the debug build). */
/** What the hop counter must read at hop `k` (from 1, or 'last') of the
 * packet the page shows: the total is the hop list's own length, so no test
 * copies today's number of hops. */
export async function hopText(page, k) {
  const n = await page.locator('li.hop').count();
  assert.ok(n > 0, 'the page lists the packet\'s hops');
  return `hop ${k === 'last' ? n : k}/${n}`;
}

export const podnetBin = process.env.PODNET ?? join(root, 'target/debug/podnet');

/** Runs podnet to completion; returns its stdout (throws on failure). */
export function podnet(...args) {
  return execFileSync(podnetBin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Starts `podnet lab serve` for `lab` on a free port, allowing pages from
 * `allowOrigin`; resolves to { url, process }. */
export function serveLab(lab, allowOrigin) {
  const server = spawn(podnetBin, ['lab', 'serve', '--name', lab, '--listen', '127.0.0.1:0', '--allow-origin', allowOrigin],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((ok, fail) => {
    let text = '';
    server.stdout.on('data', (d) => {
      text += d;
      const m = text.match(/on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) ok({ url: m[1], process: server });
    });
    server.on('exit', (code) => fail(new Error(`podnet lab serve exited with ${code}`)));
  });
}

/** A lab for the Live scene: `podnet lab up --name lab ...upArgs`, its
 * `podnet lab serve` allowing the explainer's origin, the explainer served,
 * and a browser page recording console errors into `errors`. `stop()`
 * removes all of it; a failure half-way removes what was made. */
export async function liveLab(lab, upArgs, errors) {
  const made = {};
  const stop = async () => {
    await made.browser?.close();
    made.server?.kill('SIGTERM');
    await made.web?.close();
    try { podnet('lab', 'down', '--name', lab); } catch { /* already gone */ }
  };
  try {
    try { podnet('lab', 'down', '--name', lab); } catch { /* nothing to remove */ }
    podnet('lab', 'up', '--name', lab, ...upArgs);
    made.web = await serveDist();
    const served = await serveLab(lab, new URL(made.web.url).origin);
    made.server = served.process;
    made.browser = await launch();
    const page = await newPage(made.browser, errors);
    return { web: made.web, serverUrl: served.url, browser: made.browser, page, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * The records of a little-endian pcapng file as podnet writes it:
 * [{ iface, frame, comment }] (the interface's if_name, the bytes, the
 * frame's comment).
 */
export function pcapngFrames(bytes) {
  assert.equal(bytes.readUInt32LE(0), 0x0a0d0d0a, 'a pcapng section header');
  assert.equal(bytes.readUInt32LE(8), 0x1a2b3c4d, 'little-endian');
  const options = (at, end) => {
    const found = {};
    while (at + 4 <= end) {
      const code = bytes.readUInt16LE(at), len = bytes.readUInt16LE(at + 2);
      if (code === 0) break;
      found[code] = bytes.subarray(at + 4, at + 4 + len).toString('utf8');
      at += 4 + Math.ceil(len / 4) * 4;
    }
    return found;
  };
  const names = [], records = [];
  for (let at = 0; at + 12 <= bytes.length;) {
    const type = bytes.readUInt32LE(at), total = bytes.readUInt32LE(at + 4), end = at + total - 4;
    if (type === 1) names.push(options(at + 16, end)[2] ?? '');
    if (type === 6) {
      const len = bytes.readUInt32LE(at + 20);
      records.push({ iface: names[bytes.readUInt32LE(at + 8)], frame: bytes.subarray(at + 28, at + 28 + len), comment: options(at + 28 + Math.ceil(len / 4) * 4, end)[1] ?? '' });
    }
    at += total;
  }
  return records;
}
