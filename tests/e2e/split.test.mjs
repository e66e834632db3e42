// The page starts without the Live scene's code (web/src/split.rs): only
// podnet-web's wasm loads with it, and opening scene i hands the page over
// to podnet-live, the same app with scene i, keeping where the reader was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { distSuite, root, hopText } from './harness.mjs';

const suite = distSuite();
const { errors } = suite;
const liveWasm = /^podnet-live-[0-9a-f]{16}_bg\.wasm$/;
const wasmFetched = (urls) => urls.filter((u) => u.endsWith('.wasm')).map((u) => u.split('/').pop());

/** Opens `query` in a fresh context, recording every request's URL. */
async function openRecording(query) {
  const ctx = await suite.browser.newContext({ viewport: { width: 1280, height: 800 } });
  const urls = [];
  ctx.on('request', (r) => urls.push(r.url()));
  const page = await suite.open(query, { ctx });
  return { page, urls };
}

test('the page loads one wasm; scene i fetches the live build and the reader stays where they were', async () => {
  const { page, urls } = await openRecording('?scene=f');
  const first = wasmFetched(urls);
  assert.equal(first.length, 1, `one wasm with the page: ${first}`);
  assert.match(first[0], /^podnet-web-[0-9a-f]+_bg\.wasm$/);
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.textContent('#hop-counter'), await hopText(page, 3));
  await page.click('#tab-i');
  await page.waitForSelector('#live-addr', { timeout: 15_000 });
  const later = wasmFetched(urls).slice(1);
  assert.equal(later.length, 1, `the live build, once: ${later}`);
  assert.match(later[0], liveWasm, 'named with its hash');
  // The name the page gives (scripts/hash-live.sh) is the file's, and
  // the hash in it is its content's: a new build is a new name.
  const name = await page.getAttribute('meta[name="podnet-live"]', 'content');
  assert.equal(later[0], `${name}_bg.wasm`);
  const dist = join(root, 'dist');
  const hash = createHash('sha256').update(await readFile(join(dist, `${name}.js`))).update(await readFile(join(dist, `${name}_bg.wasm`))).digest('hex');
  assert.equal(name, `podnet-live-${hash.slice(0, 16)}`);
  assert.equal(await page.locator('.app').count(), 1, 'the first app was taken down');
  assert.equal(await page.textContent('#scene-title'), 'i. Live lab');
  assert.equal(await page.textContent('#live-status'), 'not connected');
  assert.match(page.url(), /[?&]scene=i\b/);
  // Back is the scene before, at the hop the reader left, and the keys
  // work once (the first app's listeners went with it).
  await page.goBack();
  await page.waitForFunction(() => document.querySelector('#scene-title')?.textContent.startsWith('f.'));
  assert.equal(await page.textContent('#hop-counter'), await hopText(page, 3));
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.textContent('#hop-counter'), await hopText(page, 4));
  await page.click('#tab-i');
  await page.waitForSelector('#live-addr');
  assert.equal(wasmFetched(urls).length, 2, 'nothing fetched again');
  await page.context().close();
});

test('a link to scene i opens it', async () => {
  const { page, urls } = await openRecording('?scene=i');
  await page.waitForSelector('#live-addr', { timeout: 15_000 });
  assert.equal(wasmFetched(urls).length, 2);
  await page.context().close();
});

test('when the live build cannot be fetched the page says so and keeps every other scene', async () => {
  for (const missing of [/podnet-live-[0-9a-f]+\.js$/, /podnet-live-[0-9a-f]+_bg\.wasm$/]) {
    const ctx = await suite.browser.newContext({ viewport: { width: 1280, height: 800 } });
    await ctx.route(missing, (route) => route.abort());
    const page = await ctx.newPage();
    await page.goto(new URL('?scene=i', suite.server.url).href);
    await page.waitForSelector('#live-load-error', { timeout: 15_000 });
    assert.match(await page.textContent('#live-load-error'),
      /^The live lab's code \(podnet-live-[0-9a-f]{16}\.js\) could not be loaded: .+\. The other scenes still work; reload the page to try again\.$/, `${missing}`);
    await page.click('#tab-f');
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.textContent('#hop-counter'), await hopText(page, 2), 'the first app still runs');
    await ctx.close();
  }
});

test('leaving scene i while it loads stays in the first app', async () => {
  const ctx = await suite.browser.newContext({ viewport: { width: 1280, height: 800 } });
  let release;
  const held = new Promise((done) => { release = done; });
  await ctx.route(/podnet-live-[0-9a-f]+_bg\.wasm$/, async (route) => { await held; await route.continue(); });
  const page = await suite.open('?scene=f', { ctx });
  // Each app stamps its first render here: a second app would stamp it again.
  const stamp = await page.evaluate(() => window.podnetFirstRender);
  await page.click('#tab-i');
  await page.waitForSelector('#live-loading');
  await page.click('#tab-g');
  release();
  await page.waitForFunction(() => performance.getEntriesByType('resource').some((e) => /podnet-live-[0-9a-f]+_bg\.wasm$/.test(e.name)));
  await page.waitForTimeout(500);
  assert.equal(await page.textContent('#scene-title'), 'g. Reaching a pod from outside');
  assert.equal(await page.evaluate(() => window.podnetFirstRender), stamp, 'no second app started');
  await page.keyboard.press('ArrowRight');
  assert.match(await page.textContent('#hop-counter'), /^hop 2\//, 'the first app still runs');
  await ctx.close();
});

test('no console errors anywhere', () => {
  assert.deepEqual(errors, []);
});
