// End to end: the built explainer (dist/) in headless Chromium, clicked
// through like a reader would. Screenshots of every scene go to out/.
// Run: trunk build && (cd tests/e2e && npm ci && npm test)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveDist, launch, newPage } from './harness.mjs';

const out = fileURLToPath(new URL('./out/', import.meta.url));
let server, browser, page;
const errors = [];

before(async () => {
  await mkdir(out, { recursive: true });
  server = await serveDist();
  browser = await launch();
  page = await newPage(browser, errors);
  await page.goto(server.url);
  await page.waitForSelector('#scene-a');
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test('every scene opens from its tab and is photographed', async () => {
  for (const key of 'abcdefghij') {
    await page.click(`#tab-${key}`);
    await page.waitForSelector(`#scene-${key}`);
    assert.match(await page.textContent('#scene-title'), new RegExp(`^${key}\\.`));
    assert.ok(new URL(page.url()).search.includes(`scene=${key}`), 'the scene is in the URL');
    await page.screenshot({ path: join(out, `scene-${key}.png`), fullPage: true });
  }
});

test('the cross-node packet plays hop by hop to delivery without NAT', async () => {
  await page.click('#tab-f');
  assert.equal(await page.locator('li.hop').count(), 14);
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.textContent('#hop-counter'), 'hop 2/14', 'arrow key steps');
  await page.selectOption('#speed', '8');
  await page.click('#btn-play');
  await page.waitForSelector('#verdict', { timeout: 10_000 });
  assert.equal(await page.textContent('#hop-counter'), 'hop 14/14');
  assert.match(await page.textContent('#verdict'), /Delivered to default\/pod-c; source 10\.244\.1\.2 unchanged: no NAT/);
  // The packet ends on pod-c's box.
  const box = await page.locator('g.pod-g[data-pod="default/pod-c"] rect.pod').boundingBox();
  const dot = await page.locator('circle.packet').boundingBox();
  const [cx, cy] = [dot.x + dot.width / 2, dot.y + dot.height / 2];
  assert.ok(cx > box.x && cx < box.x + box.width && cy > box.y && cy < box.y + box.height, 'packet sits on pod-c');
  await page.screenshot({ path: join(out, 'scene-f-delivered.png'), fullPage: true });
});

test('a shared URL opens the same scene and hop', async () => {
  await page.goto(new URL('?scene=f&step=6', server.url).href);
  await page.waitForSelector('#scene-f');
  assert.equal(await page.textContent('#hop-counter'), 'hop 7/14');
});

test('the matrix turns green with the cluster network on and red with it off', async () => {
  await page.click('#tab-d');
  const bad = await page.locator('td.cell.bad').count();
  assert.ok(bad > 0);
  await page.click('#btn-network');
  assert.equal(await page.locator('td.cell.bad').count(), 0);
  assert.equal(await page.locator('td.cell.ok').count(), 36);
  await page.screenshot({ path: join(out, 'scene-d-on.png'), fullPage: true });
  await page.click('#btn-network');
  assert.equal(await page.locator('td.cell.bad').count(), bad);
});

test('two unconnected nodes deliver to the wrong pod', async () => {
  await page.click('#tab-c');
  await page.selectOption('#speed', '8');
  await page.click('#btn-play');
  await page.waitForSelector('#verdict', { timeout: 10_000 });
  assert.match(await page.textContent('#verdict'), /Delivered to default\/pod-b, not to default\/pod-d: both have 10\.244\.0\.3/);
  await page.screenshot({ path: join(out, 'scene-c-delivered.png'), fullPage: true });
});

test('a NodePort is DNATed to the pod and the pcap export downloads', async () => {
  await page.click('#tab-g');
  await page.click('#case-nodeport');
  await page.keyboard.press('Space');
  await page.waitForSelector('#verdict', { timeout: 20_000 });
  assert.match(await page.textContent('#verdict'), /Delivered to default\/pod-d; source rewritten from 192\.168\.1\.100 to 192\.168\.1\.11 \(NAT\)/);
  assert.ok(await page.locator('li.hop', { hasText: 'DNAT (NodePort web): 192.168.1.11:30080 -> 10.244.2.3:8080' }).count() === 1);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#btn-pcap')]);
  const file = join(out, 'nodeport.pcap');
  await download.saveAs(file);
  const bytes = await (await import('node:fs/promises')).readFile(file);
  assert.equal(bytes.readUInt32LE(0), 0xa1b2c3d4, 'pcap magic');
  assert.equal(bytes.readUInt32LE(20), 1, 'Ethernet link type');
});

test('a pod reaching the laptop leaves with its node\'s address (egress masquerade)', async () => {
  await page.click('#tab-g');
  await page.click('#case-egress');
  await page.keyboard.press('Space');
  await page.waitForSelector('#verdict', { timeout: 20_000 });
  assert.equal(await page.textContent('#verdict'), 'Delivered to laptop; source rewritten from 10.244.1.2 to 192.168.1.11 (NAT).');
  assert.ok(await page.locator('li.hop', { hasText: 'SNAT (masquerade): 10.244.1.2 -> 192.168.1.11' }).count() === 1);
});

test('nodes join: NotReady until the CNI config, ranges from node IPAM in order, then Ready', async () => {
  await page.click('#tab-j');
  await page.waitForSelector('#scene-j');
  assert.equal(await page.textContent('#join-position'), 'step 1 of 8');
  assert.match(await page.textContent('.join-node[data-node="node1"] .condition'), /^NotReady$/);
  assert.match(await page.textContent('.join-node[data-node="node1"] .message'), /cni plugin not initialized/);
  await page.click('#join-next');
  await page.click('#join-next');
  assert.match(await page.textContent('#join-now'), /node IPAM gives node1 .* spec\.podCIDR = 10\.244\.0\.0\/24/);
  await page.click('#join-next');
  assert.match(await page.textContent('.join-node[data-node="node2"]'), /spec\.podCIDR: 10\.244\.1\.0\/24/);
  await page.click('#join-next');
  assert.match(await page.textContent('.join-node[data-node="node1"] .condition'), /^NotReady$/, 'a config is not Ready yet');
  await page.click('#join-next');
  assert.match(await page.textContent('.join-node[data-node="node1"] .condition'), /^Ready$/);
  assert.match(await page.textContent('.join-node[data-node="node2"] .condition'), /^NotReady$/);
  await page.click('#join-next');
  await page.click('#join-next');
  assert.equal(await page.textContent('#join-position'), 'step 8 of 8');
  assert.ok(await page.locator('#join-next').isDisabled());
  assert.equal(await page.locator('.join-node.ready').count(), 2);
  assert.ok(new URL(page.url()).search.includes('step=7'), 'the step is in the URL');
  await page.screenshot({ path: join(out, 'scene-j-ready.png'), fullPage: true });
  await page.click('#join-back');
  assert.equal(await page.textContent('#join-position'), 'step 7 of 8');
});

test('bad sandbox input shows a clear message and never breaks the page', async () => {
  await page.click('#tab-h');
  await page.fill('#sb-cidr', '10.244.0.0/33');
  await page.press('#sb-cidr', 'Enter');
  assert.match(await page.textContent('#sb-error'), /prefix \/33 is longer than 32 bits/);
  await page.fill('#sb-cidr', '10.244.0.0/16');
  await page.press('#sb-cidr', 'Enter');
  await page.fill('#sb-prefix', '8');
  await page.press('#sb-prefix', 'Enter');
  assert.match(await page.textContent('#sb-error'), /node prefix \/8 cannot split/);
  await page.fill('#sb-prefix', '30');
  await page.press('#sb-prefix', 'Enter');
  assert.match(await page.textContent('#sb-error'), /no free address/);
  await page.fill('#sb-prefix', '24');
  await page.press('#sb-prefix', 'Enter');
  assert.equal(await page.locator('#sb-error').count(), 0);
  await page.selectOption('#sb-proto', 'tcp');
  assert.ok(await page.locator('li.hop').count() > 0);
});

test('no console errors anywhere', () => {
  assert.deepEqual(errors, []);
});
