// Live mode end to end: a real 2-node lab, `podnet lab serve`, and the
// built explainer in headless Chromium. The page is served from another
// origin (as `scripts/explain.sh` does), so CORS and the origin check are
// exercised too. Needs root (network namespaces) and target/debug/podnet.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { root, serveDist, newPage, liveLab } from './harness.mjs';

const lab = `e2e${process.pid % 10000}`;
const out = join(root, 'tests/e2e/out');
let web, other, serverUrl, browser, page, stop;
const errors = [];

before(async () => {
  await mkdir(out, { recursive: true });
  ({ web, serverUrl, browser, page, stop } = await liveLab(lab, ['--nodes', '2', '--pods-per-node', '1'], errors));
  other = await serveDist();
});

after(async () => {
  await other?.close();
  await stop?.();
});

test('a real ping across nodes animates hop by hop with its own source, and the model agrees', async () => {
  const labView = await (await fetch(`${serverUrl}/api/lab`)).json();
  const ip = (name) => labView.spec.pods.find((p) => p.name === name).ip;
  await page.goto(`${web.url}?scene=i`);
  await page.waitForSelector('#scene-i');
  await page.fill('#live-addr', serverUrl);
  await page.click('#live-connect');
  await page.waitForSelector('#live-status.ok');
  assert.match(await page.textContent('#live-status'), new RegExp(`connected to lab ${lab}`));
  await page.selectOption('#live-from', 'pod1-1');
  await page.selectOption('#live-to', 'pod2-1');
  await page.click('#live-send');
  await page.waitForSelector('#live-probe-result.ok');
  assert.match(await page.textContent('#live-probe-result'), /answered in/);
  await page.waitForSelector('#live-compare-summary');
  await page.selectOption('#speed', '8');
  // The captured path: both pods, both bridges, both uplinks, the LAN.
  const places = await page.locator('li.hop .place').allTextContents();
  assert.equal(places.length, 9, places.join(' | '));
  assert.equal(places[0], `default/pod1-1 eth0`);
  assert.ok(places.includes('node1 cni0') && places.includes('node2 eth0') && places.includes('LAN'), places.join(' | '));
  assert.equal(places[8], `default/pod2-1 eth0`);
  await page.waitForSelector('#verdict', { timeout: 10000 });
  assert.equal(
    await page.textContent('#verdict'),
    `Delivered to default/pod2-1; source ${ip('pod1-1')} unchanged: no NAT.`,
  );
  assert.equal(await page.textContent('#live-compare-summary'), 'Model and kernel agree at all 9 places.');
  assert.equal(await page.locator('#live-compare tr.differs').count(), 0);
  // Latency: the first frame's kernel timestamp to the page showing the packet.
  const latencies = [];
  for (let i = 0; i < 7; i++) {
    const before = await page.evaluate(() => window.podnetLive.id);
    if (i > 0) {
      await page.click('#live-send');
      await page.waitForFunction((id) => window.podnetLive.id !== id, before);
    }
    const live = await page.evaluate(() => window.podnetLive);
    latencies.push(live.shownMs - live.firstUs / 1000);
  }
  latencies.sort((a, b) => a - b);
  const median = latencies[3];
  assert.ok(latencies.every((l) => l > 0 && l < 5000), `latencies ${latencies}`);
  console.log(`FIGURE live latency, packet on the wire to hop shown: median ${median.toFixed(1)} ms, max ${latencies[6].toFixed(1)} ms over 7 pings (target < 200 ms)`);
  await page.screenshot({ path: join(out, 'scene-i.png'), fullPage: true });
  assert.deepEqual(errors, []);
});

test('a NodePort from outside: DNAT and masquerade captured, and the model agrees', async () => {
  // The lab's service "web" fronts its last pod (pod2-1); reach it from the
  // client through node1, so it crosses the LAN twice.
  await page.selectOption('#live-from', 'client');
  await page.selectOption('#live-to', 'node1');
  await page.selectOption('#live-proto', 'nodeport');
  await page.click('#live-send');
  await page.waitForFunction(() => document.querySelectorAll('li.hop').length === 9
    && document.querySelector('li.hop .place').textContent === 'client');
  await page.selectOption('#speed', '8');
  await page.waitForSelector('#verdict', { timeout: 10000 });
  assert.equal(
    await page.textContent('#verdict'),
    'Delivered to default/pod2-1; source rewritten from 192.168.1.100 to 192.168.1.11 (NAT).',
  );
  assert.equal(await page.textContent('#live-compare-summary'), 'Model and kernel agree at all 8 places.');
  // Predict, then see, graded by the captured packet: no NAT is wrong, at the DNAT hop.
  await page.selectOption('#predict-ends', 'default/pod2-1');
  await page.selectOption('#predict-source', '192.168.1.100');
  await page.selectOption('#predict-nat', 'no');
  await page.click('#predict-check');
  assert.match(await page.textContent('#predict-result'),
    /^graded by the packet the lab captured: Ends at default\/pod2-1 ✓ · source seen 192\.168\.1\.11 ✗ · NAT yes ✗\. First wrong at hop \d+: node1/);
  assert.equal(await page.locator('li.hop.wrong').count(), 1, 'the hop where it went wrong is marked');
  await page.screenshot({ path: join(out, 'scene-i-nodeport.png'), fullPage: true });
  assert.deepEqual(errors, []);
});

test('a packet to a ClusterIP replays with the DNAT hop to the endpoint the kernel chose', async () => {
  // Service web's only endpoint is pod2-1: from pod1-1 it crosses nodes.
  await page.selectOption('#live-from', 'pod1-1');
  await page.selectOption('#live-to', 'default/web');
  await page.selectOption('#live-proto', 'udp');
  const send = async () => {
    const before = await page.evaluate(() => window.podnetLive?.id);
    await page.click('#live-send');
    await page.waitForFunction((id) => window.podnetLive && window.podnetLive.id !== id, before);
    await page.waitForSelector('#live-compare-summary');
  };
  await send();
  await page.waitForSelector('#live-probe-result.ok');
  assert.match(await page.textContent('#live-probe-result'), /answered in/);
  const labView = await (await fetch(`${serverUrl}/api/lab`)).json();
  const pod2 = labView.spec.pods.find((p) => p.name === 'pod2-1').ip;
  assert.match(await page.textContent('#live-model-nat'),
    new RegExp(`^In the model: node1 cni0: DNAT \\(Service web, ClusterIP\\): 10\\.96\\.\\d+\\.\\d+:7946 -> ${pod2.replaceAll('.', '\\.')}:7946\\.`));
  assert.match(await page.textContent('#live-compare-summary'), /^Model and kernel agree at all \d+ places\.$/);
  // spread has an endpoint on each node and the kernel picks at random:
  // whichever it picks (pod2-1 itself: the hairpin), the model follows it.
  await page.selectOption('#live-from', 'pod2-1');
  await page.selectOption('#live-to', 'default/spread');
  for (let i = 0; i < 6; i++) {
    await send();
    const hops = (await page.locator('li.hop .place').allTextContents()).join(' | ');
    console.log(`spread #${i}: ${hops}`);
    assert.match(await page.textContent('#live-compare-summary'), /^Model and kernel agree at all \d+ places\.$/, hops);
  }
  assert.deepEqual(errors, []);
});

test('a page from another origin is refused, and says so', async () => {
  const p = await newPage(browser, []);
  await p.goto(`${other.url}?scene=i`);
  await p.fill('#live-addr', serverUrl);
  await p.click('#live-connect');
  await p.waitForSelector('#live-status.bad');
  assert.match(await p.textContent('#live-status'), /cannot reach podnet lab serve|403/);
  await p.close();
  const stats = await (await fetch(`${serverUrl}/api/stats`)).json();
  assert.ok(stats.capture.traces >= 2, JSON.stringify(stats));
});
