// Break and fix (issue 15): every challenge starts red, is mended with the
// sandbox's own controls, turns the matrix green and is kept as solved in
// this browser; a challenge link carries the repair. Also: a matrix cell
// plays its packet, a NodePort reply has its NAT undone, and a 100-node
// sandbox stays readable.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { distSuite } from './harness.mjs';

const suite = distSuite();
const { errors, out } = suite;
const open = (query, ctx) => suite.open(query, { ctx });

after(() => assert.deepEqual(errors, [], 'no console errors or uncaught exceptions'));

const settings = (k) => async (page) => {
  if (!(await page.$(`#sb-more-${k}`))) await page.click(`#sb-settings-${k}`);
};
const clear = (sel) => async (page) => { await page.fill(sel, ''); await page.press(sel, 'Tab'); };

// Each challenge and the learner's repair, with the sandbox's controls.
const FIXES = {
  network: async (page) => page.click('#sb-network'),
  route: async (page) => { await settings(1)(page); await page.check('#sb-route-1-2'); },
  overlap: async (page) => { await settings(3)(page); await clear('#sb-range-3')(page); },
  forward: async (page) => { await settings(2)(page); await page.check('#sb-fwd-2'); },
  gateway: async (page) => { await settings(1)(page); await clear('#sb-gw-p1-2')(page); },
  nodeport: async (page) => page.uncheck('#sb-svc-local'),
  noendpoints: async (page) => page.check('#sb-label-p2-1'),
  selector: async (page) => { await page.fill('#sb-svc-selector', 'web'); await page.press('#sb-svc-selector', 'Tab'); },
  hairpin: async (page) => { await settings(1)(page); await page.check('#sb-hairpin-1'); },
  targetport: async (page) => { await page.fill('#sb-svc-target', 'http'); await page.press('#sb-svc-target', 'Tab'); },
  lans: async (page) => page.selectOption('#sb-backend', 'vxlan'),
  // The NetworkPolicy tasks: the example, then its rule written in.
  'only-frontend': async (page) => {
    await page.click('#sb-policy-example');
    const yaml = await page.inputValue('#sb-policy-yaml');
    await page.fill('#sb-policy-yaml', yaml.replace('ingress: []', 'ingress:\n  - from:\n    - podSelector: {matchLabels: {role: frontend}}'));
  },
  'isolate-all': async (page) => {
    const yaml = await page.inputValue('#sb-policy-yaml');
    assert.match(yaml, /podSelector: \{\}/);
    await page.fill('#sb-policy-yaml', yaml.replace('podSelector: {}', 'podSelector:\n    matchLabels: {role: backend}'));
  },
};
// Tasks whose goal is a policy: they start without red cells.
const POLICY_TASKS = ['only-frontend', 'isolate-all'];

test('every challenge starts red, is mended with the controls, and is kept as solved', async () => {
  const ctx = await suite.browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await open('?scene=h', ctx);
  const keys = await page.$$eval('ul.ch-list button', (bs) => bs.map((b) => b.id.replace(/^ch-/, '')));
  assert.ok(keys.length >= 5, `at least five challenges: ${keys}`);
  assert.deepEqual([...keys].sort(), Object.keys(FIXES).sort(), 'a repair for every challenge');
  for (const [i, key] of keys.entries()) {
    await page.click(`#ch-${key}`);
    if (POLICY_TASKS.includes(key)) {
      assert.match(await page.textContent('#ch-status'), /^Not yet: p\d-\d → p\d-\d should (be denied|pass)/, `${key} starts unsolved`);
    } else {
      assert.match(await page.textContent('#ch-status'), /^Not yet: \d+ pairs still fail/, `${key} starts broken`);
      assert.ok(await page.locator('td.cell.bad').count() > 0, `${key}: red cells`);
    }
    await page.waitForURL((u) => u.search.startsWith(`?scene=h&challenge=${key}`));
    await FIXES[key](page);
    await page.waitForSelector('#ch-status.ok', { timeout: 5000 });
    assert.match(await page.textContent('#ch-status'), /^Solved ✓/, key);
    // The repair as an operator would type it on a real cluster.
    assert.match(await page.textContent('#ch-command'), /^On a real cluster: /, key);
    assert.ok(await page.locator('#ch-command code').count() > 0, `${key}: a command`);
    assert.equal(await page.locator('td.cell.bad').count(), 0, `${key}: all green`);
    if (POLICY_TASKS.includes(key)) {
      // p1-2, p2-1 and p2-2 to the backend, denied where podnet enforces it.
      assert.ok(await page.locator('td.cell.denied').count() >= 3, `${key}: denied cells`);
      assert.match(await page.textContent('#sb-policy-list'), /default\/backend isolates p3-1 for ingress/);
    }
    if (key === 'isolate-all') await page.screenshot({ path: join(out, 'challenge-policy.png'), fullPage: true });
    assert.match(await page.textContent('#ch-progress'), new RegExp(`${i + 1} of ${keys.length} solved`));
    if (key === 'nodeport') await page.screenshot({ path: join(out, 'challenge-solved.png'), fullPage: true });
  }
  const saved = await page.evaluate(() => localStorage.getItem('podnet.challenges.solved'));
  assert.deepEqual(saved.split(',').sort(), [...keys].sort());
  // A reload keeps the progress.
  const again = await open('?scene=h', ctx);
  assert.equal(await again.locator('ul.ch-list li.solved').count(), keys.length);
  await ctx.close();
});

test('a challenge link is the broken cluster, and with the repair so far, the mended one', async () => {
  const page = await open('?scene=h&challenge=route');
  assert.match(await page.textContent('#ch-story'), /ip route del 10\.244\.1\.0\/24/);
  await page.screenshot({ path: join(out, 'challenge.png'), fullPage: true });
  await FIXES.route(page);
  await page.waitForSelector('#ch-status.ok');
  const shared = page.url();
  await page.context().close();
  // Someone else opens it: fresh storage, the same cluster, solved there too.
  const other = await open(new URL(shared).search);
  assert.match(await other.textContent('#ch-status'), /^Solved ✓/);
  assert.equal(await other.locator('#ch-progress').textContent(), ' — 1 of 13 solved in this browser');
  await other.click('#ch-leave');
  assert.equal(await other.locator('#ch-status').count(), 0);
  assert.ok(!other.url().includes('challenge='), other.url());
  await other.context().close();
});

test('the NodePort challenge opens on a node that drops it under externalTrafficPolicy: Local', async () => {
  const page = await open('?scene=h&challenge=nodeport&speed=8');
  assert.equal(await page.$eval('#sb-from', (s) => s.value), 'laptop');
  assert.equal(await page.$eval('#sb-to', (s) => s.value), 'node1');
  assert.ok(await page.isChecked('#sb-svc-local'));
  assert.match(await page.textContent('#cell-reason'), /^laptop → node1: .*externalTrafficPolicy is Local and this node has no endpoint/);
  await page.context().close();
});

test('a red cell plays its packet in the player, and a NodePort reply has its NAT undone', async () => {
  // A NodePort without kube-proxy's masquerade (a sandbox setting).
  const page = await open('?scene=h&svc=p3-1&masq=0&speed=8');
  // The first failing NodePort cell: node1 sent it to p3-1 on node3, which answers the laptop itself.
  const cell = page.locator('tr.node-port-row button.cell-btn').first();
  await cell.click();
  assert.match(await page.textContent('#cell-reason'), /^laptop → node1: arrived, but the reply came from 10\.244\.2\.2:8080, not 192\.168\.1\.11:30080/);
  assert.match(await page.textContent('#cell-reply h3'), /^The reply: delivered to laptop/);
  assert.doesNotMatch(await page.textContent('#cell-reply'), /undone/);
  // Picking the cell sent its packet in the player above, brought into view.
  await page.waitForFunction(() => {
    const r = document.querySelector('#scene-h .packet-view').getBoundingClientRect();
    return r.top >= -1 && r.top < window.innerHeight / 2;
  });
  assert.equal(await page.$eval('#sb-from', (s) => s.value), 'laptop');
  assert.equal(await page.$eval('#sb-to', (s) => s.value), 'node1');
  await page.waitForSelector('#verdict', { timeout: 10_000 });
  assert.match(await page.textContent('ol.hops'), /DNAT \(Service web, NodePort\): 192\.168\.1\.11:30080 -> 10\.244\.2\.2:8080/);
  // With masquerade, node1's conntrack undoes both translations on the reply.
  await page.check('#sb-masq');
  await page.locator('tr.node-port-row button.cell-btn').first().click();
  const reply = await page.textContent('#cell-reply');
  assert.match(reply, /SNAT undone: destination 192\.168\.1\.11 -> 192\.168\.1\.\d+/);
  assert.match(reply, /DNAT undone: source 10\.244\.2\.2:8080 -> 192\.168\.1\.11:30080/);
  await page.context().close();
});

test('a Service row: the pod that is its own endpoint is red with hairpin off, and its packet says why', async () => {
  const page = await open('?scene=h&challenge=hairpin&speed=8');
  assert.match(await page.textContent('ul.requirements'), /✗ every node and pod reaches every Service port/);
  const bad = page.locator('tr.service-row td.cell.bad button');
  assert.equal(await bad.count(), 1, 'only p1-1 fails: the dice may send it to itself');
  await bad.click();
  assert.match(await page.textContent('#cell-reason'), /^p1-1 → web \(10\.96\.0\.\d+:80\): when the dice pick endpoint 1 of 2: dropped at node1 cni0: the bridge would send it back out of veth\w+, where it came in, and hairpin mode is off/);
  assert.match(await page.textContent('#cell-request'), /DNAT \(Service web, ClusterIP\)/);
  // To the Service by name from the sender list: a ClusterIP, DNATed on the way.
  await page.selectOption('#sb-from', 'p2-1');
  await page.selectOption('#sb-to', 'web');
  await page.selectOption('#sb-proto', 'tcp');
  await page.evaluate(() => document.activeElement.blur());
  await page.click('#btn-play');
  await page.waitForSelector('#verdict', { timeout: 10_000 });
  assert.match(await page.textContent('#verdict'), /^Delivered to default\/p(1|3)-1; .* Service web chose it \(DNAT 10\.96\.0\.\d+:80 -> 10\.244\.\d\.2:8080\)/);
  await page.context().close();
});

test('a 100-node sandbox is drawn at a readable size and follows the packet', async () => {
  const pods = Array(100).fill(1).join(',');
  const page = await open(`?scene=h&pods=${pods}&from=p1-1&to=p100-1`);
  assert.equal(await page.locator('g.node-g').count(), 100);
  assert.equal(await page.locator('#sb-error').count(), 0);
  const size = await page.$eval('g.node-g[data-node="node50"] .node-name', (t) => t.getBoundingClientRect().height);
  assert.ok(size >= 11, `node names readable: ${size}px tall`);
  assert.match(await page.textContent('#sb-matrix-limit'), /up to 64 nodes and pods; this cluster has 200/);
  const left = () => page.$eval('.diagram.pan', (d) => d.scrollLeft);
  assert.equal(await left(), 0, 'starts at the sender');
  await page.click('li.hop:last-child summary');
  await page.waitForFunction(() => document.querySelector('.diagram.pan').scrollLeft > 10000);
  // Fit is the overview: the whole cluster in the page.
  await page.click('#zoom-fit');
  const fit = await page.$eval('svg.topology', (s) => s.getBoundingClientRect().width);
  assert.ok(fit <= 1280, `fit: ${fit}px`);
  // Add node names the limit.
  const page2 = await open(`?scene=h&pods=${Array(128).fill(0).join(',')}`);
  assert.match(await page2.textContent('#sb-limit'), /at most 128 nodes/);
  assert.ok(await page2.isDisabled('#sb-add-node'));
  await page.context().close();
  await page2.context().close();
});

test('a pod\'s labels, in its node\'s settings, are what a NetworkPolicy selects', async () => {
  const page = await open('?scene=h&challenge=only-frontend');
  await FIXES['only-frontend'](page);
  await page.waitForSelector('#ch-status.ok');
  // Labelling another pod frontend lets it in: no longer what the task asks.
  await settings(1)(page);
  await page.fill('#sb-labels-p1-2', 'role=frontend');
  await page.press('#sb-labels-p1-2', 'Tab');
  await page.waitForFunction(() => document.querySelector('#ch-status').textContent.includes('p1-2 → p3-1 should be denied'));
  assert.match(await page.textContent('#sb-labelled'), /p1-2 role=frontend/);
  // A label that is not key=value is the sandbox's error, named.
  await page.fill('#sb-labels-p1-2', 'role');
  await page.press('#sb-labels-p1-2', 'Tab');
  await page.waitForSelector('#sb-error');
  assert.match(await page.textContent('#sb-error'), /p1-2's labels: "role" is not key=value/);
  await page.context().close();
});
