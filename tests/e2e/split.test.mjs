// The page starts with scenes a and b only (web/src/split.rs): podnet-web's
// wasm loads with it, podnet-full (the same app with every scene) is
// fetched while the reader reads, and opening a later scene hands the page
// over to it, keeping where the reader was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { distSuite, hopText, root } from './harness.mjs';

const suite = distSuite();
const { errors } = suite;
const fullWasm = /^podnet-full-[0-9a-f]{16}_bg\.wasm$/;
const wasmFetched = (urls) => urls.filter((u) => u.endsWith('.wasm')).map((u) => u.split('/').pop());

/** Opens `query` in a fresh context, recording every request's URL. */
async function openRecording(query) {
  const ctx = await suite.browser.newContext({ viewport: { width: 1280, height: 800 } });
  const urls = [];
  ctx.on('request', (r) => urls.push(r.url()));
  const page = await suite.open(query, { ctx });
  return { page, urls };
}

test('the page loads its wasm, then the full build once while the reader reads; a later scene hands over and the reader stays where they were', async () => {
  const { page, urls } = await openRecording('?scene=b');
  const first = wasmFetched(urls);
  assert.match(first[0], /^podnet-web-[0-9a-f]+_bg\.wasm$/, `the page's wasm first: ${first}`);
  // Fetched when the browser is idle after the first scene, not asked for.
  await page.waitForFunction(() => performance.getEntriesByType('resource').some((e) => /podnet-full-[0-9a-f]+_bg\.wasm$/.test(e.name)));
  assert.equal(await page.locator('#scene-b').count(), 1, 'still the page\'s own app');
  await page.click('#btn-recreate');
  await page.click('#btn-recreate');
  const recreated = await page.textContent('#recreate-result');
  const stamp = await page.evaluate(() => window.podnetFirstRender);
  await page.click('#tab-c');
  await page.waitForSelector('#scene-c li.hop');
  const later = wasmFetched(urls).slice(1);
  assert.equal(later.length, 1, `the full build, once: ${later}`);
  assert.match(later[0], fullWasm, 'named with its hash');
  // The name the page gives (scripts/hash-names.sh) is the file's, and
  // the hash in it is its content's: a new build is a new name.
  const name = await page.getAttribute('meta[name="podnet-full"]', 'content');
  assert.equal(later[0], `${name}_bg.wasm`);
  const dist = join(root, 'dist');
  const hash = createHash('sha256').update(await readFile(join(dist, `${name}.js`))).update(await readFile(join(dist, `${name}_bg.wasm`))).digest('hex');
  assert.equal(name, `podnet-full-${hash.slice(0, 16)}`);
  assert.equal(await page.locator('.app').count(), 1, 'the first app was taken down');
  assert.notEqual(await page.evaluate(() => window.podnetFirstRender), stamp, 'the full build drew scene c');
  // The keyboard's focus was on the tab: it is there again in the new app.
  await page.waitForFunction(() => document.activeElement?.id === 'tab-c');
  assert.match(page.url(), /[?&]scene=c\b/);
  // Back is the scene before, as the reader left it, and the keys work
  // once (the first app's listeners went with it).
  await page.goBack();
  await page.waitForFunction(() => document.querySelector('#scene-title')?.textContent.startsWith('b.'));
  assert.equal(await page.textContent('#recreate-result'), recreated);
  await page.keyboard.press('3');
  await page.waitForFunction(() => document.querySelector('#scene-title')?.textContent.startsWith('b2.'));
  await page.click('#tab-i');
  await page.waitForSelector('#live-addr');
  assert.equal(await page.textContent('#live-status'), 'not connected');
  assert.equal(wasmFetched(urls).length, 2, 'nothing fetched again');
  await page.context().close();
});

test('a link to a later scene opens it as linked: the page\'s build leaves the link alone while the full one loads', async () => {
  const cases = [
    ['?scene=i', '#live-addr', null],
    ['?scene=f&step=3', '#scene-f li.hop', async (page) => assert.equal(await page.textContent('#hop-counter'), await hopText(page, 4))],
    // Not the default preset: the page's build must not write its own.
    ['?scene=g2&preset=and', '#scene-g2 table', async (page) => assert.equal(await page.getAttribute('#preset-and', 'aria-pressed'), 'true')],
  ];
  for (const [query, sel, check] of cases) {
    const ctx = await suite.browser.newContext({ viewport: { width: 1280, height: 800 } });
    const urls = [];
    ctx.on('request', (r) => urls.push(r.url()));
    let release;
    const held = new Promise((done) => { release = done; });
    await ctx.route(/podnet-full-[0-9a-f]+_bg\.wasm$/, async (route) => { await held; await route.continue(); });
    const page = await ctx.newPage();
    page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
    await page.goto(new URL(query, suite.server.url).href);
    await page.waitForSelector('#scene-loading');
    assert.equal(new URL(page.url()).search, query, 'while loading, the link as it was');
    release();
    await page.waitForSelector(sel, { timeout: 15_000 });
    assert.equal(wasmFetched(urls).length, 2, query);
    if (check) await check(page);
    await ctx.close();
  }
});

test('when the full build cannot be fetched the page says so and keeps scenes a and b; opening the scene again tries again', async () => {
  for (const missing of [/podnet-full-[0-9a-f]+\.js$/, /podnet-full-[0-9a-f]+_bg\.wasm$/]) {
    const ctx = await suite.browser.newContext({ viewport: { width: 1280, height: 800 } });
    await ctx.route(missing, (route) => route.abort());
    const page = await ctx.newPage();
    await page.goto(new URL('?scene=i', suite.server.url).href);
    await page.waitForSelector('#scene-load-error', { timeout: 15_000 });
    assert.match(await page.textContent('#scene-load-error'),
      /^This scene's code \(podnet-full-[0-9a-f]{16}\.js\) could not be loaded: .+\. Scenes a and b still work; open this scene again, or reload the page, to try again\.$/, `${missing}`);
    await page.click('#tab-b');
    await page.click('#btn-recreate');
    assert.match(await page.textContent('#recreate-result'), /./, 'the first app still runs');
    // The network is back: opening the scene again fetches again and
    // hands over (fails if the failed fetch were kept).
    await ctx.unroute(missing);
    await page.click('#tab-i');
    await page.waitForSelector('#scene-i #live-status', { timeout: 15_000 });
    assert.equal(await page.$('#scene-load-error'), null, `${missing}`);
    await ctx.close();
  }
});

test('leaving a later scene while it loads stays in the first app', async () => {
  const ctx = await suite.browser.newContext({ viewport: { width: 1280, height: 800 } });
  let release;
  const held = new Promise((done) => { release = done; });
  await ctx.route(/podnet-full-[0-9a-f]+_bg\.wasm$/, async (route) => { await held; await route.continue(); });
  const page = await suite.open('?scene=a', { ctx });
  // Each app stamps its first render here: a second app would stamp it again.
  const stamp = await page.evaluate(() => window.podnetFirstRender);
  await page.click('#tab-c');
  await page.waitForSelector('#scene-loading');
  await page.click('#tab-b');
  release();
  // The hand-over saw the reader gone and stayed (web/src/split.rs says so here).
  await page.waitForFunction(() => window.podnetHandOver === 'stayed');
  assert.equal(await page.textContent('#scene-title'), 'b. One node\'s pod network');
  assert.equal(await page.evaluate(() => window.podnetFirstRender), stamp, 'no second app started');
  // And the fetched build serves the next later scene at once.
  await page.click('#tab-c');
  await page.waitForSelector('#scene-c li.hop');
  await ctx.close();
});

test('the page\'s wasm keeps its budget: at most 250 KiB gzip', async () => {
  // The speed figures (first render, fps) are measured by figures.mjs.
  const html = await readFile(join(root, 'dist/index.html'), 'utf8');
  const name = html.match(/podnet-web-[0-9a-f]+_bg\.wasm/)[0];
  const gz = gzipSync(await readFile(join(root, 'dist', name)), { level: 9 }).length;
  assert.ok(gz <= 250 * 1024, `${name}: ${gz} bytes gzip`);
});

test('no console errors anywhere', () => {
  assert.deepEqual(errors, []);
});
