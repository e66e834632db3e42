// Accessibility (issue 23): axe-core, every rule it has, on every scene in
// the light and the dark theme: 0 violations. Also the layout of a big
// sandbox (the zoom bar over the drawing, the player beside or under it,
// each of a sensible size), the skip link, and "Next scene".
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { distSuite } from './harness.mjs';

const suite = distSuite();
const { errors } = suite;
after(() => assert.deepEqual(errors, [], 'no console errors or uncaught exceptions'));

const axeSource = readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe's violations on the page as it is, one line each. */
async function violations(page) {
  await page.addScriptTag({ content: await axeSource });
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.length}× ${v.help} — e.g. ${v.nodes[0].target.join(' ')}${v.nodes[0].failureSummary ? `: ${v.nodes[0].failureSummary.split('\n').slice(1, 2).join(' ')}` : ''}`);
  });
  return found;
}

const scenes = async (page) => page.$$eval('nav[aria-label=scenes] button', (bs) => bs.map((b) => b.id.replace(/^tab-/, '')));

for (const colorScheme of ['light', 'dark']) {
  test(`axe: every scene in the ${colorScheme} theme has 0 violations`, async () => {
    const ctx = await suite.browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme });
    const first = await suite.open('?scene=a', { ctx });
    const keys = await scenes(first);
    assert.ok(keys.length >= 13, `${keys}`);
    const all = [];
    // Each scene as a link opens it, and scene g2 and the sandbox with a
    // policy and a challenge too (their tables and editors).
    const queries = [...keys.map((k) => `?scene=${k}`), '?scene=h&challenge=isolate-all', '?scene=h&challenge=nodeport'];
    for (const q of queries) {
      const page = await suite.open(q, { ctx });
      await page.waitForSelector('.scene-box > *');
      for (const v of await violations(page)) all.push(`${q}: ${v}`);
      await page.close();
    }
    await ctx.close();
    assert.deepEqual(all, [], `axe violations in the ${colorScheme} theme:\n${all.join('\n')}`);
  });
}

test('a sandbox of 5, 30 and 128 nodes: the zoom bar over the drawing, the player beside or under it, both of a sensible size', async () => {
  for (const [nodes, width] of [[5, 1280], [30, 1280], [128, 1280], [30, 390]]) {
    const ctx = await suite.browser.newContext({ viewport: { width, height: 844 } });
    const pods = Array(nodes).fill(2).join(',');
    const page = await suite.open(`?scene=h&pods=${encodeURIComponent(pods)}&from=p1-1&to=p2-1&step=1`, { ctx });
    await page.waitForSelector('.drawing svg.topology');
    const box = async (sel) => page.$eval(sel, (el) => { const r = el.getBoundingClientRect(); return { x: r.x, y: r.y, w: r.width, h: r.height }; });
    const drawing = await box('.packet-view > .drawing');
    const svg = await box('.drawing .diagram');
    const player = await box('.packet-view > :nth-child(2)');
    const label = `${nodes} nodes at ${width} px`;
    assert.ok(drawing.w >= Math.min(width - 40, 600), `${label}: drawing ${drawing.w} px wide`);
    assert.ok(svg.h >= 150, `${label}: drawing ${svg.h} px tall`);
    assert.ok(player.w >= 300, `${label}: player ${player.w} px wide`);
    if (nodes >= 5) {
      const bar = await box('.drawing > .zoom-bar');
      assert.ok(bar.y < svg.y && Math.abs(bar.x - svg.x) < 2, `${label}: the zoom bar over the drawing`);
    }
    // No scene wider than the screen.
    const scroll = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(scroll <= width + 1, `${label}: page ${scroll} px wide`);
    if (nodes >= 30) {
      // Fit: the whole cluster in the box, in rows, not a strip.
      await page.click('#zoom-fit');
      await page.waitForFunction(() => document.querySelector('.drawing .diagram').scrollWidth <= document.querySelector('.drawing .diagram').clientWidth + 1);
      const fit = await box('.drawing svg.topology');
      assert.ok(fit.w <= drawing.w + 1, `${label}, fit: ${fit.w} px wide in ${drawing.w}`);
      assert.ok(fit.h >= Math.min(150, fit.w / 4), `${label}, fit: ${fit.w} x ${fit.h} px, a strip`);
      assert.ok(fit.w / fit.h <= 4, `${label}, fit: ${fit.w} x ${fit.h} px`);
      // The packet is still seen there, about its size.
      const dot = await box('circle.packet');
      assert.ok(dot.w >= 8, `${label}, fit: the packet ${dot.w} px`);
    }
    await ctx.close();
  }
});

test('the keyboard: a skip link to the scene, arrow keys pan a focused drawing, Next scene goes on in menu order', async () => {
  const page = await suite.open('?scene=h&pods=2%2C2%2C2%2C2%2C2%2C2%2C2%2C2%2C2%2C2%2C2%2C2&from=p1-1&to=p12-1');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to the scene');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'scene-title');
  // The drawing, focused, scrolls with the arrow keys; the packet's step stays.
  const step = () => page.textContent('.player .counter');
  const before = await step();
  await page.focus('.diagram.pan');
  const left = await page.$eval('.diagram.pan', (el) => el.scrollLeft);
  await page.keyboard.press('ArrowRight');
  await page.waitForFunction((l) => document.querySelector('.diagram.pan').scrollLeft !== l, left);
  assert.equal(await step(), before, 'the arrow panned, it did not step');
  // Past the matrix's buttons in one step: to the reason under it.
  const d0 = await suite.open('?scene=d');
  await d0.focus('ul.requirements ~ a.skip');
  assert.equal(await d0.evaluate(() => document.activeElement.textContent), 'Skip the matrix');
  await d0.keyboard.press('Enter');
  assert.equal(await d0.evaluate(() => document.activeElement.id), 'cell-reason');
  await d0.keyboard.press('Tab');
  assert.ok(await d0.evaluate(() => !document.activeElement.closest('table.reach')), 'the next Tab is past the table');
  // Next scene: in the menu's order, where j comes before e.
  const d = await suite.open('?scene=d');
  assert.match(await d.textContent('#next-scene'), /^Next scene: j\. /);
  await d.click('#next-scene');
  await d.waitForFunction(() => document.querySelector('#scene-title').textContent.startsWith('j.'));
  assert.match(await d.textContent('#next-scene'), /^Next scene: e\. /);
  assert.ok(new URL(d.url()).search.includes('scene=j'));
});

test('every hop says in plain words what happened, its terms linked to the glossary', async () => {
  const page = await suite.open('?scene=f');
  const n = await page.locator('ol.hops li.hop').count();
  assert.ok(n > 5, `${n} hops`);
  await page.$$eval('ol.hops details', (ds) => ds.forEach((d) => { d.open = true; }));
  const texts = await page.$$eval('ol.hops p.plain', (ps) => ps.map((p) => p.textContent));
  assert.equal(texts.length, n, 'a sentence under every hop');
  assert.ok(texts.every((t) => t.endsWith('.') && t.length > 30), texts.join('\n'));
  assert.ok(texts.some((t) => t.includes('forwarding table (FDB)')), texts.join('\n'));
  // The screen reader's line says the current hop the same way.
  assert.equal(await page.textContent('#hop-narration'), `Hop 1 of ${n}: ${texts[0]}`);
  await page.locator('ol.hops a.term', { hasText: 'veth' }).first().click();
  assert.equal(await page.evaluate(() => document.activeElement.id), 'gloss-veth');
  assert.equal(await page.evaluate(() => location.hash), '', 'no fragment navigation (a history entry)');
  assert.match(await page.textContent('#gloss-veth + dd'), /virtual Ethernet cable/);
  // Scene c says why the packet never left node1: the route that matched.
  const c = await suite.open('?scene=c');
  await c.$$eval('ol.hops details', (ds) => ds.forEach((d) => { d.open = true; }));
  assert.match((await c.$$eval('ol.hops p.plain', (ps) => ps.map((p) => p.textContent))).join(' '),
    /closest match is 10\.244\.0\.0\/24, and that route says: the destination is on the link of eth0 itself \(on-link\)/);
});

test('on a phone no scene is wider than the screen, and the current scene\'s tab is in view', async () => {
  const ctx = await suite.browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const first = await suite.open('?scene=a', { ctx });
  const keys = await scenes(first);
  const wide = [];
  for (const k of keys) {
    const page = await suite.open(`?scene=${k}`, { ctx });
    await page.waitForSelector('.scene-box > *');
    const w = await page.evaluate(() => document.documentElement.scrollWidth);
    if (w > 391) wide.push(`${k}: ${w} px`);
    const tab = await page.$eval(`#tab-${k}`, (el) => { const r = el.getBoundingClientRect(); return { l: r.left, r: r.right }; });
    assert.ok(tab.l >= -1 && tab.r <= 391, `${k}: its tab at ${tab.l}–${tab.r} px`);
    await page.close();
  }
  assert.deepEqual(wide, [], 'scenes wider than a 390 px phone');
  // The drawing keeps its size in a box that scrolls, and follows the
  // packet: at its last hop (pod-c, on node2) it has scrolled right.
  const f = await suite.open('?scene=f', { ctx });
  const box = () => f.$eval('.diagram', (el) => ({ left: el.scrollLeft, full: el.scrollWidth, shown: el.clientWidth }));
  const start = await box();
  assert.ok(start.full > start.shown, `the drawing scrolls: ${JSON.stringify(start)}`);
  await f.click('#btn-step');
  for (let i = 0; i < 30 && !(await f.isDisabled('#btn-step')); i++) await f.click('#btn-step');
  await f.waitForFunction((l) => document.querySelector('.diagram').scrollLeft > l + 50, start.left);
  await ctx.close();
});
