// End to end: the built explainer (dist/) in headless Chromium, clicked
// through like a reader would. Screenshots of every scene go to out/.
// Run: trunk build && (cd tests/e2e && npm ci && npm test)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveDist, launch, newPage, hopText, pcapngFrames } from './harness.mjs';

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
  for (const key of ['a', 'b', 'b2', 'c', 'd', 'e', 'f', 'f2', 'g', 'g2', 'h', 'i', 'j']) {
    await page.click(`#tab-${key}`);
    await page.waitForSelector(`#scene-${key}`);
    assert.match(await page.textContent('#scene-title'), new RegExp(`^${key}\\.`));
    assert.ok(new URL(page.url()).search.includes(`scene=${key}`), 'the scene is in the URL');
    await page.screenshot({ path: join(out, `scene-${key}.png`), fullPage: true });
  }
});

test('NetworkPolicy: a preset fills the 9x9 table from core, a cell plays its packet dropped at the enforcing node, a bad edit names its line and changes nothing', async () => {
  await page.click('#tab-g2');
  await page.waitForSelector('#policy-table');
  // The default preset: ingress to x denied; x/a's column is all ✗ but itself.
  assert.equal(await page.locator('#policy-table tbody tr').count(), 9);
  assert.equal(await page.locator('#policy-table td.cell').count(), 81);
  assert.match(await page.textContent('#policy-count'), /Of the 288 connections .* 192 are allowed and 96 denied/);
  // No two pods drawn alike: node2's three (wide enough for a name) are
  // named with their namespace, node1's six (narrow) by address.
  const drawn = await page.locator('#scene-g2 svg.topology text.pod-name').allTextContents();
  assert.equal(new Set(drawn).size, 9, `${drawn}`);
  for (const name of ['x/c', 'y/c', 'z/c']) assert.ok(drawn.includes(name), `${name} in ${drawn}`);
  // AND against OR, on one pair: y/a → x/a.
  await page.click('#preset-and');
  assert.match(await page.textContent('#policy-list'), /x\/b-in-y isolates x\/a for ingress/);
  const yaToXa = page.locator('#policy-table button[data-cell="3-0"]');
  assert.match(await yaToXa.getAttribute('aria-label'), /^y\/a → x\/a: denied/);
  assert.match(await page.locator('#policy-table button[data-cell="4-0"]').getAttribute('aria-label'), /^y\/b → x\/a: allowed/);
  await page.click('#preset-or');
  assert.match(await yaToXa.getAttribute('aria-label'), /allowed/);
  // A denied cell across the nodes: z/c (node2) → x/a (node1), dropped on node1 where x/a's ingress is enforced.
  await page.click('#preset-deny-ingress');
  await page.selectOption('#speed', '8');
  await page.click('#policy-table button[data-cell="8-0"]');
  assert.match(await page.textContent('#policy-reason'), /^z\/c → x\/a on TCP 80: denied/);
  await page.waitForSelector('#verdict', { timeout: 20_000 });
  const verdict = await page.textContent('#verdict');
  assert.match(verdict, /node1/, verdict);
  assert.match(verdict, /NetworkPolicy/, verdict);
  assert.ok(new URL(page.url()).search.includes('pair=8,0'), 'the pair is in the URL');
  await page.screenshot({ path: join(out, 'scene-g2-denied.png'), fullPage: true });
  // UDP 81 under the named-port preset: allowed.
  await page.click('#preset-named-port');
  await page.click('#port-udp-81');
  assert.match(await page.locator('#policy-table button[data-cell="8-0"]').getAttribute('aria-label'), /allowed/);
  // A typo: the error names its line, the table keeps the last valid policies.
  const before = await page.textContent('#policy-count');
  const yaml = await page.inputValue('#policy-yaml');
  await page.fill('#policy-yaml', yaml.replace('podSelector:', 'podSelektor:'));
  await page.waitForSelector('#policy-error');
  assert.match(await page.textContent('#policy-error'), /Line \d+: .*podSelektor/);
  assert.equal(await page.getAttribute('#policy-yaml', 'aria-invalid'), 'true');
  assert.equal(await page.textContent('#policy-count'), before);
  // kubectl's YAML reads a plain y as true: refused, with the way out.
  const own = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: c-to-y, namespace: x}
spec:
  podSelector: {matchLabels: {pod: c}}
  egress:
  - to:
    - namespaceSelector: {matchLabels: {ns: y}}
`;
  await page.fill('#policy-yaml', own);
  await page.waitForFunction(() => document.querySelector('#policy-error')?.textContent.includes('quote it'));
  assert.match(await page.textContent('#policy-error'), /^Line 8: /);
  // Fixed, and its own: egress from x/c only to y.
  await page.fill('#policy-yaml', own.replace('{ns: y}', '{ns: "y"}'));
  await page.waitForFunction(() => !document.querySelector('#policy-error'));
  assert.match(await page.textContent('#policy-list'), /x\/c-to-y isolates x\/c for ingress and egress/);
  assert.ok(new URL(page.url()).search.includes('policy='), 'the learner\'s policies are in the URL');
});

test('a Service: the endpoints follow a recreated pod, the DNAT is on the sender with its rule lit, the reply undone, the hairpin masqueraded', async () => {
  await page.click('#tab-b2');
  const rows = page.locator('#svc-endpoints tbody tr');
  assert.equal(await rows.count(), 3);
  for (let i = 0; i < 3; i++) assert.match(await rows.nth(i).textContent(), /1\/3$/);
  assert.equal(await page.textContent('#svc-lookups li:first-child'), 'web.default.svc.cluster.local: A 10.96.0.20');
  // Recreate pod-c: a new address, the endpoint list follows, the ClusterIP stays.
  const podC = page.locator('#svc-endpoints tbody tr', { hasText: 'pod-c' });
  const before = await podC.textContent();
  await page.click('#btn-recreate-endpoint');
  await page.waitForFunction(() => document.querySelector('#svc-recreate').textContent.includes('now it has'));
  const text = await page.textContent('#svc-recreate');
  const [, had, now] = text.match(/it had (\d+\.\d+\.\d+\.\d+), now it has (\d+\.\d+\.\d+\.\d+)/);
  assert.notEqual(had, now);
  assert.match(text, /still 10\.96\.0\.20/);
  const after = await podC.textContent();
  assert.ok(before.includes(had) && after.includes(now), `pod-c's row follows its address: ${before} / ${after} / ${had} / ${now}`);
  // The dice pick pod-c: DNATed on node1, the rules that acted lit.
  await page.click('#pick-pod-c');
  await page.evaluate(() => document.activeElement.blur());
  await page.selectOption('#speed', '8');
  await page.click('#btn-play');
  await page.waitForSelector('#verdict', { timeout: 20_000 });
  assert.match(await page.textContent('#verdict'), new RegExp(`Delivered to default/pod-c; source 10\\.244\\.1\\.2 unchanged: no NAT\\. Service web chose it \\(DNAT 10\\.96\\.0\\.20:80 -> ${now.replaceAll('.', '\\.')}:8080\\)`));
  assert.equal(await page.locator('li.hop', { hasText: `DNAT (Service web, ClusterIP): 10.96.0.20:80 -> ${now}:8080` }).count(), 1);
  const lit = await page.locator('#svc-rules .hit, #svc-rules .now').allTextContents();
  assert.ok(lit.some((l) => l.includes(`-j DNAT --to-destination ${now}:8080`)), lit.join('\n'));
  assert.ok(lit.some((l) => l.startsWith('-A KUBE-SVC-') && l.includes('-j KUBE-SEP-')), 'the dice rule that chose');
  assert.ok(lit.some((l) => l.startsWith('-A KUBE-SERVICES -d 10.96.0.20/32')), 'the ClusterIP\'s rule');
  await page.screenshot({ path: join(out, 'scene-b2-dnat.png'), fullPage: true });
  // Its reply: conntrack undoes the DNAT, pod-a sees the ClusterIP.
  await page.click('#case-reply');
  await page.evaluate(() => document.activeElement.blur());
  await page.click('#btn-play');
  await page.waitForSelector('#verdict', { timeout: 20_000 });
  assert.match(await page.textContent('#verdict'), new RegExp(`Delivered to default/pod-a; source rewritten from ${now.replaceAll('.', '\\.')} to 10\\.96\\.0\\.20`));
  // pod-b through its own Service: hairpin, masqueraded to the bridge.
  await page.click('#case-request');
  await page.click('#case-hairpin');
  await page.evaluate(() => document.activeElement.blur());
  await page.click('#btn-play');
  await page.waitForSelector('#verdict', { timeout: 20_000 });
  assert.match(await page.textContent('#verdict'), /Delivered to default\/pod-b; source rewritten from 10\.244\.1\.3 to 10\.244\.1\.1/);
  assert.equal(await page.locator('li.hop', { hasText: 'SNAT (masquerade): 10.244.1.3 -> 10.244.1.1' }).count(), 1);
  assert.ok(new URL(page.url()).search.includes('hairpin=1'), 'the case is in the URL');
});

test('the cross-node packet plays hop by hop to delivery without NAT', async () => {
  await page.click('#tab-f');
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.textContent('#hop-counter'), await hopText(page, 2), 'arrow key steps');
  await page.selectOption('#speed', '8');
  await page.click('#btn-play');
  await page.waitForSelector('#verdict', { timeout: 10_000 });
  assert.equal(await page.textContent('#hop-counter'), await hopText(page, 'last'));
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
  assert.equal(await page.textContent('#hop-counter'), await hopText(page, 7));
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
  // Space with nothing focused plays (on the focused case button it would press it).
  await page.evaluate(() => document.activeElement.blur());
  await page.keyboard.press('Space');
  await page.waitForSelector('#verdict', { timeout: 20_000 });
  assert.match(await page.textContent('#verdict'), /Delivered to default\/pod-d; source rewritten from 192\.168\.1\.100 to 192\.168\.1\.11 \(NAT\)/);
  assert.ok(await page.locator('li.hop', { hasText: 'DNAT (Service web, NodePort): 192.168.1.11:30080 -> 10.244.2.3:8080' }).count() === 1);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#btn-pcap')]);
  const file = join(out, 'nodeport.pcapng');
  await download.saveAs(file);
  const bytes = await (await import('node:fs/promises')).readFile(file);
  // On the wires it crossed, named: the LAN twice (laptop to node1, node1
  // to node2), then pod-d's veth; each frame's comment names its hop.
  const records = pcapngFrames(bytes);
  assert.deepEqual(records.map((r) => r.iface), ['LAN', 'LAN', `node2 ${records[2].iface.split(' ')[1]}`]);
  assert.match(records[2].iface, /^node2 veth/);
  assert.match(records[1].comment, /^hop \d+: LAN: switch: to node2$/);
  // tshark reads the same, and sees no retransmission (no frame twice).
  const { spawnSync } = await import('node:child_process');
  const shark = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.interface_name', '-e', 'frame.comment'], { encoding: 'utf8' });
  assert.equal(shark.status, 0, shark.stderr);
  assert.equal(shark.stdout.trim().split('\n').length, 3, shark.stdout);
  assert.match(shark.stdout, /^LAN\thop \d+: LAN: switch: to node1/);
  // Each wire on its own, as tcpdump there would have it: no frame twice,
  // so no retransmission. (The whole file follows one TCP connection across
  // wires, as a capture on "any" does, so the copy on the next wire reads
  // as one there.)
  for (const iface of new Set(records.map((r) => r.iface))) {
    const part = join(out, `nodeport-${iface.replace(/\W+/g, '_')}.pcapng`);
    const cut = spawnSync('tshark', ['-r', file, '-Y', `frame.interface_name == "${iface}"`, '-w', part], { encoding: 'utf8' });
    assert.equal(cut.status, 0, cut.stderr);
    const again = spawnSync('tshark', ['-r', part, '-Y', 'tcp.analysis.retransmission || tcp.analysis.duplicate_ack'], { encoding: 'utf8' });
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stdout.trim(), '', `no retransmission on ${iface}`);
  }
});

test('a pod reaching the laptop leaves with its node\'s address (egress masquerade)', async () => {
  await page.click('#tab-g');
  await page.click('#case-egress');
  await page.evaluate(() => document.activeElement.blur());
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

test('nodes on two LANs: host-gw is dropped at node1, VXLAN delivers, and the pcap holds VXLAN frames', async () => {
  await page.click('#tab-f2');
  await page.click('#backend-host-gw');
  await page.selectOption('#speed', '8');
  await page.click('#btn-play');
  await page.waitForSelector('#verdict', { timeout: 10_000 });
  assert.equal(await page.textContent('#verdict'), 'Dropped at node1 kernel: no route to 10.244.2.2 (network unreachable).');
  assert.match(await page.textContent('#overlay-why'), /192\.168\.2\.12 is not on node1's LAN 192\.168\.1\.0\/24/);
  await page.screenshot({ path: join(out, 'scene-f2-host-gw.png'), fullPage: true });
  await page.click('#backend-vxlan');
  assert.ok(new URL(page.url()).search.includes('backend=vxlan'), 'the backend is in the URL');
  await page.click('#btn-play');
  await page.waitForSelector('#verdict', { timeout: 20_000 });
  assert.equal(await page.textContent('#verdict'), 'Delivered to default/pod-c; source 10.244.1.2 unchanged: no NAT.');
  assert.equal(await page.locator('li.hop', { hasText: 'VXLAN encap (VNI 1): FDB sends it to 192.168.2.12, +50 bytes' }).count(), 1);
  // A hop behind the router: outer TTL one lower, the pod's frame inside untouched.
  await page.locator('li.hop', { hasText: 'LAN 192.168.2.0/24' }).locator('summary').click();
  const headers = await page.textContent('li.hop.current table.headers.encapsulated');
  assert.match(headers, /Outer IPv4src192\.168\.1\.11dst192\.168\.2\.12TTL63/);
  assert.match(headers, /Inside: the pod's frame.*IPv4src10\.244\.1\.2dst10\.244\.2\.2TTL63/);
  await page.screenshot({ path: join(out, 'scene-f2.png'), fullPage: true });
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#btn-pcap')]);
  const file = join(out, 'overlay.pcapng');
  await download.saveAs(file);
  const bytes = await (await import('node:fs/promises')).readFile(file);
  // The records on the LANs carry UDP 8472 with the VXLAN I flag and pod-c's address inside.
  let vxlan = 0;
  for (const { iface, frame: f } of pcapngFrames(bytes)) {
    if (f.readUInt16BE(12) === 0x0800 && f[23] === 17 && f.readUInt16BE(36) === 8472 && f[42] === 0x08) {
      assert.equal([...f.subarray(50 + 30, 50 + 34)].join('.'), '10.244.2.2', 'inner destination');
      assert.match(iface, /^LAN /);
      vxlan++;
    }
  }
  assert.equal(vxlan, 2, 'once on each LAN');
  const tshark = (await import('node:child_process')).spawnSync('tshark',
    ['-r', file, '-d', 'udp.port==8472,vxlan', '-Y', 'vxlan', '-T', 'fields', '-e', 'vxlan.vni'], { encoding: 'utf8' });
  assert.equal(tshark.status, 0, tshark.stderr);
  assert.equal(tshark.stdout.trim().split('\n').length, vxlan, 'Wireshark decodes every one as VXLAN');
});

test('the sandbox puts nodes on several LANs with a backend', async () => {
  await page.click('#tab-h');
  await page.selectOption('#sb-lans', '2');
  await page.selectOption('#sb-from', 'p1-1');
  await page.selectOption('#sb-to', 'p2-1');
  await page.selectOption('#sb-backend', 'host-gw');
  assert.equal(await page.locator('g.lan-g').count(), 2);
  await page.selectOption('#speed', '8');
  await page.click('#btn-play');
  await page.waitForSelector('#verdict', { timeout: 10_000 });
  assert.match(await page.textContent('#verdict'), /^Dropped at node1 kernel: no route/);
  await page.selectOption('#sb-backend', 'auto');
  await page.click('#btn-play');
  await page.waitForSelector('#verdict', { timeout: 20_000 });
  assert.match(await page.textContent('#verdict'), /^Delivered to default\/p2-1; source 10\.244\.\d+\.2 unchanged: no NAT/);
  assert.ok(new URL(page.url()).search.includes('lans=2'));
  await page.selectOption('#sb-lans', '1');
  await page.selectOption('#sb-backend', 'host-gw');
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
