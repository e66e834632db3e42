// Live mode on an overlay: a real lab whose nodes are on two LANs behind a
// router, VXLAN between them, `podnet lab serve`, and the explainer in
// headless Chromium. The captured packet shows both layers and the model
// agrees at every place. Needs root and target/debug/podnet.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { root, liveLab } from './harness.mjs';

const lab = `e2v${process.pid % 10000}`;
const out = join(root, 'tests/e2e/out');
let web, serverUrl, browser, page, stop;
const errors = [];

before(async () => {
  await mkdir(out, { recursive: true });
  ({ web, serverUrl, browser, page, stop } = await liveLab(lab, ['--nodes', '2', '--pods-per-node', '1', '--lans', '2', '--backend', 'vxlan'], errors));
});

after(async () => {
  await stop?.();
});

test('a real ping inside VXLAN across a router: both layers captured, the model agreeing', async () => {
  await page.goto(`${web.url}?scene=i`);
  await page.fill('#live-addr', serverUrl);
  await page.click('#live-connect');
  await page.waitForSelector('#live-status.ok');
  // The page draws the lab as its kernels report it: two LANs, the router, a VTEP per node.
  assert.equal(await page.locator('g.lan-g').count(), 2);
  assert.equal(await page.locator('g.router-g').count(), 1);
  assert.equal(await page.locator('g.vtep-g').count(), 2);
  await page.selectOption('#live-from', 'pod1-1');
  await page.selectOption('#live-to', 'pod2-1');
  await page.click('#live-send');
  await page.waitForSelector('#live-probe-result.ok');
  await page.waitForSelector('#live-compare-summary');
  const places = await page.locator('li.hop .place').allTextContents();
  assert.ok(places.includes('LAN 192.168.1.0/24') && places.includes('LAN 192.168.2.0/24'), places.join(' | '));
  assert.match(await page.textContent('#live-compare-summary'), /^Model and kernel agree at all \d+ places\.$/);
  const cells = await page.locator('#live-compare td code').allTextContents();
  const outer = cells.filter((c) => c.startsWith('VXLAN 192.168.1.11 > 192.168.2.11'));
  assert.ok(outer.length >= 4, `kernel and model, on both LANs: ${cells.join(' | ')}`);
  assert.ok(outer.every((c) => c.includes('vni 1') && c.includes('[10.244.1.2 > 10.244.2.2')), outer.join(' | '));
  // The hop on LAN 2 opens to the nested headers.
  await page.locator('li.hop', { hasText: 'LAN 192.168.2.0/24' }).locator('summary').click();
  const headers = await page.textContent('li.hop.current table.headers.encapsulated');
  assert.match(headers, /Outer IPv4src192\.168\.1\.11dst192\.168\.2\.11TTL63/);
  assert.match(headers, /Inside: the pod's frame/);
  await page.screenshot({ path: join(out, 'scene-i-overlay.png'), fullPage: true });
  assert.deepEqual(errors, []);
});
