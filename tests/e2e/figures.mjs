// Figures for the explainer, measured on the built dist/ in headless Chromium.
// Run: trunk build && (cd tests/e2e && npm ci && node figures.mjs)
// Prints one FIGURE line per figure with its target; measured, never asserted.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { serveDist, launch, dist } from './harness.mjs';

const figure = (name, value, target, met) => console.log(`FIGURE ${name}: ${value} (target ${target}) ${met ? 'met' : 'MISSED'}`);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// The page's wasm is the one index.html loads (scenes a and b); the full
// build (web/src/split.rs) is fetched while the reader reads the first.
const html = await readFile(join(dist, 'index.html'), 'utf8');
const wasmName = html.match(/podnet-web-[0-9a-f]+_bg\.wasm/)[0];
const kib = (n) => `${(n / 1024).toFixed(0)} KiB`;
const sizes = async (name) => {
  const bytes = await readFile(join(dist, name));
  return { raw: bytes.length, gz: gzipSync(bytes, { level: 9 }).length };
};
const page = await sizes(wasmName);
figure('wasm size (the page)', `${kib(page.raw)} raw, ${kib(page.gz)} gzip`, '<= 250 KiB gzip', page.gz <= 250 * 1024);
const fullName = html.match(/<meta name="podnet-full" content="([^"]+)">/)[1];
const full = await sizes(`${fullName}_bg.wasm`);
console.log(`FIGURE wasm size (the full build, fetched after the first render): ${kib(full.raw)} raw, ${kib(full.gz)} gzip (no target)`);

const server = await serveDist();
const browser = await launch();
try {
  const firsts = [];
  for (let i = 0; i < 7; i++) {
    const context = await browser.newContext(); // fresh: nothing cached
    const page = await context.newPage();
    await page.goto(server.url);
    await page.waitForSelector('#scene-a');
    firsts.push(await page.evaluate(() => window.podnetFirstRender));
    await context.close();
  }
  const first = median(firsts);
  figure('time to first render', `${first.toFixed(0)} ms median of 7 cold loads (${firsts.map((x) => x.toFixed(0)).join(', ')})`, '< 300 ms cold', first < 300);

  // Opening a later scene: straight after the first render (the full
  // build still coming), and once it has come (the hand-over alone).
  for (const wait of [false, true]) {
    const opens = [];
    for (let i = 0; i < 3; i++) {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(new URL('?scene=b', server.url).href);
      await page.waitForSelector('#scene-b');
      if (wait) await page.waitForFunction(() => performance.getEntriesByType('resource').some((e) => /podnet-full-[0-9a-f]+_bg\.wasm$/.test(e.name) && e.responseEnd > 0));
      const t0 = Date.now();
      await page.click('#tab-c');
      await page.waitForSelector('#scene-c li.hop');
      opens.push(Date.now() - t0);
      await context.close();
    }
    console.log(`FIGURE opening scene c from b ${wait ? 'once the full build has come' : 'right after the first render'}: ${median(opens)} ms median of 3 (${opens.join(', ')}) (no target)`);
  }

  // Count animation frames for 5 s while the packet plays, restarting it when it arrives.
  const animate = async (query) => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(new URL(query, server.url).href);
    await page.waitForSelector('li.hop');
    const nodes = await page.locator('g.node-g').count();
    const pods = await page.locator('g.pod-g').count();
    const result = await page.evaluate(async () => {
      const play = document.querySelector('#btn-play');
      let frames = 0, steps = 0, last = document.querySelector('#hop-counter').textContent;
      const start = performance.now();
      play.click();
      await new Promise((done) => {
        const tick = () => {
          frames++;
          const now = document.querySelector('#hop-counter').textContent;
          if (now !== last) { steps++; last = now; }
          if (document.querySelector('#verdict') && play.textContent.includes('Play')) play.click();
          if (performance.now() - start < 5000) requestAnimationFrame(tick); else done();
        };
        requestAnimationFrame(tick);
      });
      return { fps: frames / ((performance.now() - start) / 1000), steps };
    });
    await page.close();
    return { ...result, nodes, pods };
  };
  for (const [nodes, pods] of [[20, 30], [100, 2]]) {
    const list = Array(nodes).fill(pods).join(',');
    const r = await animate(`?scene=h&pods=${list}&from=p1-1&to=p${nodes}-${pods}&proto=ping&net=1&speed=8`);
    figure(`animation, ${nodes}-node sandbox`, `${r.fps.toFixed(1)} fps over 5 s, ${r.steps} hops shown, ${r.nodes} nodes x ${r.pods / r.nodes} pods`, '>= 55 fps', r.fps >= 55);
  }
} finally {
  await browser.close();
  await server.close();
}
