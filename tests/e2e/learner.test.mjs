// What got in a learner's way (issue 15), each checked as a learner meets
// it: keyboard only, at 1280×800 and on a 390×844 phone, with reduced
// motion and a dark colour scheme, the pcap read back by tshark.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { distSuite, hopText, pcapngFrames } from './harness.mjs';

const suite = distSuite();
const { errors, out } = suite;
const open = (query, options) => suite.open(query, options);

test('1. Space on a focused button presses that button, not play', async () => {
  const page = await open('?scene=f');
  await page.focus('#btn-step');
  await page.keyboard.press('Space');
  assert.equal(await page.textContent('#hop-counter'), await hopText(page, 2), 'Step was pressed');
  assert.match(await page.textContent('#btn-play'), /Play/, 'and nothing plays');
  // With nothing focused, Space still plays.
  await page.evaluate(() => document.activeElement.blur());
  await page.keyboard.press('Space');
  assert.match(await page.textContent('#btn-play'), /Pause/);
  await page.context().close();
});

test('2. while playing, the current hop and the verdict stay in view at 1280×800', async () => {
  const page = await open('?scene=f&speed=8');
  const pad = await page.$eval('ol.hops', (el) => parseFloat(getComputedStyle(el).paddingLeft));
  assert.ok(pad >= 30, `room for two-digit hop numbers: ${pad}px`);
  await page.click('#btn-play');
  await page.waitForSelector('#verdict', { timeout: 10_000 });
  const inView = (sel) => page.$eval(sel, (el) => {
    const r = el.getBoundingClientRect();
    const list = el.closest('ol.hops')?.getBoundingClientRect();
    const inWindow = r.top >= -1 && r.bottom <= window.innerHeight + 1;
    const inList = !list || (r.top >= list.top - 1 && r.bottom <= list.bottom + 1);
    return inWindow && inList;
  });
  assert.ok(await inView('li.hop.current'), 'the last hop is visible');
  assert.ok(await inView('#verdict'), 'the verdict is visible');
  await page.context().close();
});

test('3. one click on a closed hop opens its headers', async () => {
  const page = await open('?scene=f');
  await page.click('li.hop[data-hop="4"] summary');
  assert.equal(await page.textContent('#hop-counter'), await hopText(page, 5));
  assert.ok(await page.$eval('li.hop[data-hop="4"] details', (d) => d.open), 'open after one click');
  assert.ok(await page.isVisible('li.hop[data-hop="4"] table.headers'));
  await page.context().close();
});

test('4. removing a sandbox node leaves the others as they were, and the receiver chosen', async () => {
  const page = await open('?scene=h&from=p1-1&to=p3-1');
  const node3 = async () => page.textContent('g.node-g[data-node="node3"] .node-name');
  const before = await node3();
  assert.match(before, /10\.244\.2\.0\/24/);
  await page.click('#sb-remove-2');
  assert.equal(await page.locator('g.node-g').count(), 2);
  assert.equal(await node3(), before, 'node3 keeps its name and range');
  assert.equal(await page.$eval('#sb-to', (s) => s.value), 'p3-1');
  assert.ok(new URL(page.url()).search.includes('pods=2%2C-%2C1'), page.url());
  await page.context().close();
});

test('5. a link asking for more nodes than the sandbox holds says so, and the rest still works', async () => {
  const pods = Array(300).fill(1).join(',');
  const page = await open(`?scene=h&pods=${pods}&from=p1-1&to=p2-1`);
  assert.match(await page.textContent('#sb-error'), /asks for 300 nodes; the sandbox holds at most 128/);
  assert.equal(await page.locator('g.node-g').count(), 128);
  assert.match(await page.textContent('#sb-limit'), /at most 128 nodes/);
  assert.ok(await page.locator('li.hop').count() > 0, 'the packet still plays');
  await page.context().close();
});

test('6. no frame in the page or the pcap has a zero MAC, and UDP is not sent to DNS', async () => {
  const page = await open('?scene=h&proto=udp');
  const first = await page.textContent('li.hop[data-hop="0"] table.headers');
  assert.ok(!first.includes('00:00:00:00:00:00'), first);
  assert.match(first, /src MAC0a:58:/, 'the sender\'s own MAC');
  assert.match(first, /UDP dst port8080/);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#btn-pcap')]);
  const file = join(out, 'sandbox-udp.pcapng');
  await download.saveAs(file);
  const bytes = await readFile(file);
  for (const { frame: f } of pcapngFrames(bytes)) {
    assert.ok(!f.subarray(0, 6).every((b) => b === 0) && !f.subarray(6, 12).every((b) => b === 0), 'MACs set');
  }
  const shark = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', '_ws.col.Protocol', '-e', '_ws.expert'], { encoding: 'utf8' });
  assert.equal(shark.status, 0, shark.stderr);
  assert.ok(!/DNS|Malformed/.test(shark.stdout), shark.stdout);
  await page.context().close();
});

test('7. a matrix cell tells why, by keyboard too; the network switch is a switch', async () => {
  const page = await open('?scene=d');
  const sw = page.locator('#btn-network');
  assert.equal(await sw.getAttribute('role'), 'switch');
  assert.equal(await sw.getAttribute('aria-checked'), 'false');
  assert.match(await page.textContent('#cell-reason'), /dropped at|reply/, 'the first failure is explained in the page');
  // Keyboard: focus node1 → pod-c's cell and press Enter.
  const cell = page.locator('td.cell.bad .cell-btn').nth(3);
  await cell.focus();
  const label = await cell.getAttribute('aria-label');
  await page.keyboard.press('Enter');
  assert.equal(await page.textContent('#cell-reason'), label);
  // The picked cell's packet, hop by hop, ending where the reason says.
  assert.match(await page.textContent('#cell-request h3'), /^The ping: dropped at node2 kernel: no route/);
  assert.match(await page.textContent('#cell-request li:last-child'), /drop: no route to 10\.244\.1\.3/);
  assert.equal(await page.locator('#cell-reply').count(), 0, 'no reply to a lost ping');
  // Enter also played that ping in the player, to where it is lost.
  assert.ok(new URL(page.url()).search.includes('cell=node2%2Cpod-b') || page.url().includes('cell=node2,pod-b'), page.url());
  await page.selectOption('#speed', '8');
  await page.waitForSelector('#verdict', { timeout: 10_000 });
  assert.match(await page.textContent('#verdict'), /^Dropped at node2 kernel/);
  // The link names the cell: a reload shows the same one picked.
  await page.reload();
  await page.waitForSelector('#cell-reason');
  assert.equal(await page.textContent('#cell-reason'), label);
  await sw.focus();
  await page.keyboard.press('Space');
  assert.equal(await sw.getAttribute('aria-checked'), 'true');
  assert.match(await page.textContent('#cell-reason'), /^node2 → pod-b: arrived with the sender's own address, and the reply came back$/, 'the picked cell, now green');
  assert.match(await page.textContent('#cell-request h3'), /^The ping: delivered to default\/pod-b$/);
  assert.match(await page.textContent('#cell-reply h3'), /^The reply: delivered to node2$/, 'and the way back');
  await page.context().close();
});

test('9. browser Back goes to the scene before', async () => {
  const page = await open('?scene=a');
  await page.click('#tab-f');
  await page.waitForSelector('#scene-f');
  await page.click('#btn-step');
  await page.click('#tab-g');
  await page.waitForSelector('#scene-g');
  await page.goBack();
  await page.waitForSelector('#scene-f');
  assert.ok(new URL(page.url()).search.includes('scene=f'));
  assert.equal(await page.textContent('#hop-counter'), await hopText(page, 2), 'and the hop it was on');
  await page.goBack();
  await page.waitForSelector('#scene-a');
  await page.goForward();
  await page.waitForSelector('#scene-f');
  await page.context().close();
});

test('10. a phone: the menu is one row, the drawing keeps its size, the matrix scrolls', async () => {
  const page = await open('?scene=d', { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const nav = await page.$eval('nav[aria-label="scenes"]', (n) => n.getBoundingClientRect().height);
  assert.ok(nav < 60, `menu ${nav}px high`);
  const svg = await page.$eval('svg.topology', (s) => [s.getBoundingClientRect().width, Number(s.getAttribute('width'))]);
  assert.ok(svg[0] >= svg[1] - 1, `drawn at its own size, text readable: ${svg}`);
  const m = await page.$eval('.matrix', (el) => [el.scrollWidth, el.clientWidth, getComputedStyle(el).overflowX]);
  assert.equal(m[2], 'auto', 'the matrix scrolls rather than being cut off');
  const page2 = await open('?scene=f', { viewport: { width: 390, height: 844 }, isMobile: true });
  assert.equal(await page2.evaluate(() => window.scrollY), 0, 'opening a scene does not scroll the page');
  const wide = await page2.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(wide <= 392, `the page itself does not scroll sideways: ${wide}px`);
  await page2.screenshot({ path: join(out, 'phone-f.png'), fullPage: false });
  await page.context().close();
  await page2.context().close();
});

test('10. reduced motion steps instead of gliding; a dark scheme is dark', async () => {
  const page = await open('?scene=f', { reducedMotion: 'reduce', colorScheme: 'dark' });
  const glide = await page.$eval('circle.packet', (c) => getComputedStyle(c).transitionDuration);
  assert.equal(glide, '0s');
  const bg = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
  const [r, g, b] = bg.match(/\d+/g).map(Number);
  assert.ok(r + g + b < 150, `dark background: ${bg}`);
  await page.screenshot({ path: join(out, 'dark-f.png'), fullPage: false });
  await page.context().close();
});

test('predict, then see: the model grades the guess and marks the hop where it went wrong', async () => {
  const page = await open('?scene=g&via=nodeport&speed=8');
  // Check with nothing chosen says what is missing, and grades nothing.
  await page.click('#predict-check');
  assert.equal(await page.textContent('#predict-missing'), 'Choose where it ends, the source the receiver sees, whether NAT happens first, then Check.');
  assert.equal(await page.locator('#predict-result').count(), 0);
  await page.selectOption('#predict-ends', 'default/pod-d');
  await page.selectOption('#predict-source', '192.168.1.100');
  await page.selectOption('#predict-nat', 'no');
  await page.click('#predict-check');
  const result = await page.textContent('#predict-result');
  assert.match(result, /Ends at default\/pod-d ✓ · source seen 192\.168\.1\.11 ✗ · NAT yes ✗\. First wrong at hop \d+: node1 kernel\./, result);
  assert.equal(await page.locator('li.hop.wrong').count(), 1);
  assert.match(await page.textContent('li.hop.wrong'), /DNAT \(Service web, NodePort\)/);
  assert.match(await page.textContent('#btn-play'), /Pause/, 'the packet plays after the check');
  await page.waitForSelector('#verdict', { timeout: 20_000 });
  await page.screenshot({ path: join(out, 'predict-graded.png'), fullPage: true });
  await page.selectOption('#predict-source', '192.168.1.11');
  await page.selectOption('#predict-nat', 'yes');
  await page.click('#predict-check');
  assert.match(await page.textContent('#predict-result'), /All right\./);
  assert.equal(await page.locator('li.hop.wrong').count(), 0);
  await page.context().close();
});

test('scene g plays the reply after the request, conntrack undoing the NAT hop by hop', async () => {
  const page = await open('?scene=g&via=nodeport&speed=8');
  await page.click('#packet-reply');
  await page.waitForURL((u) => u.search.includes('back=1'));
  const hops = await page.textContent('ol.hops');
  assert.match(hops, /SNAT undone: destination 192\.168\.1\.11 -> 192\.168\.1\.\d+/);
  assert.match(hops, /DNAT undone: source 10\.244\.\d+\.\d+:8080 -> 192\.168\.1\.11:30080/);
  assert.match(await page.textContent('#outside-reply-said'), /conntrack undoes both rewrites/);
  // A request that never arrives has no reply to play.
  await page.click('#case-direct');
  assert.ok(await page.isDisabled('#packet-reply'));
  // Any scene with a packet: scene f's ping comes back to pod-a.
  const f = await open('?scene=f&speed=8');
  await f.click('#packet-reply');
  await f.waitForURL((u) => u.search.includes('back=1'));
  assert.match(await f.textContent('#packet-reply-said'), /conntrack knows it as one/);
  assert.match(await f.textContent('li.hop:last-child'), /default\/pod-a eth0/);
  await f.context().close();
  await page.context().close();
});

test('scene i without a lab plays a real lab\'s recording, compared with the model by the same code', async () => {
  const page = await open('?scene=i&speed=8');
  await page.click('#live-play');
  await page.waitForSelector('#live-status.ok');
  assert.match(await page.textContent('#live-status'), /^playing a recording of lab \S+ \(podnet [\d.]+, 3 probes\)/);
  // Its first probe plays at once: the ping across nodes, as captured.
  await page.waitForSelector('#live-compare-summary');
  assert.match(await page.textContent('#live-probe-result'), /^answered in [\d.]+ ms$/);
  const places = await page.locator('li.hop .place').allTextContents();
  assert.equal(places.length, 9, places.join(' | '));
  assert.equal(await page.textContent('#live-compare-summary'), 'Model and kernel agree at all 9 places.');
  // The NodePort it holds: DNAT and masquerade, as the kernel did them.
  await page.selectOption('#live-from', 'client');
  await page.selectOption('#live-to', 'node1');
  await page.selectOption('#live-proto', 'nodeport');
  await page.click('#live-send');
  await page.waitForFunction(() => document.querySelector('li.hop .place')?.textContent === 'client');
  await page.waitForSelector('#verdict');
  assert.match(await page.textContent('#verdict'), /source rewritten from 192\.168\.1\.100 to 192\.168\.1\.11 \(NAT\)/);
  assert.match(await page.textContent('#live-compare-summary'), /^Model and kernel agree at all \d+ places\.$/);
  // What it does not hold is said, with what it does.
  await page.selectOption('#live-proto', 'ping');
  await page.click('#live-send');
  await page.waitForSelector('#live-probe-result.bad');
  assert.match(await page.textContent('#live-probe-result'), /^not in the recording, which has: .*client → node1 \(nodeport\)/);
  await page.context().close();
});

test('no console errors anywhere', () => {
  assert.deepEqual(errors, []);
});
