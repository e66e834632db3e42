// Figures for the explainer, measured on the built dist/ in headless Chromium.
// Run: trunk build && (cd tests/e2e && npm ci && node figures.mjs)
// Prints one FIGURE line per figure with its target; measured, never asserted.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { serveDist, launch, dist } from './harness.mjs';

const figure = (name, value, target, met) => console.log(`FIGURE ${name}: ${value} (target ${target}) ${met ? 'met' : 'MISSED'}`);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const wasmName = (await readdir(dist)).find((f) => f.endsWith('.wasm'));
const wasm = await readFile(join(dist, wasmName));
const gz = gzipSync(wasm, { level: 9 }).length;
figure('wasm size', `${(wasm.length / 1024).toFixed(0)} KiB raw, ${(gz / 1024).toFixed(0)} KiB gzip`, '<= 250 KiB gzip', gz <= 250 * 1024);

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
