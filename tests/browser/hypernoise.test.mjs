// The demo page and the embeddable package running the models in headless Chromium: on
// WebGPU (SwiftShader here) and on the CPU fallback, each matching the native CPU trainer's
// pixels for the same prompt and seed; ReNO streaming its steps; bad models and prompts
// giving readable errors; the row of eight seeds framed by the evaluator. Timings and sizes are
// written to ARTIFACTS/browser-bench.json (committed as results/browser-bench.json, never
// asserted).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '../../scripts/serve.mjs';
import { launch, openPage, WEBGPU, ROOT, TRAINER, ARTIFACTS } from './chromium.mjs';

const MODELS = join(ROOT, 'www/pkg/models');
const PROMPT = 'a blue circle to the left of a yellow square';
const SEED = 3;
const bench = {};
let server, base, fixtures;

before(async () => {
  fixtures = mkdtempSync(join(tmpdir(), 'hypernoise-native-'));
  // the native CPU trainer's images from the same (8-bit) model files the page loads
  const sample = (out, extra) => execFileSync(TRAINER, ['--device', 'cpu', 'sample', '--prompt', PROMPT, '--seed', String(SEED),
    '--weights', join(MODELS, 'generator.safetensors'), '--out', join(fixtures, out), ...extra]);
  sample('base.png', []);
  // at the page's starting strength
  const strength = readFileSync(join(ROOT, 'www/index.html'), 'utf8').match(/id="strength"[^>]* value="([\d.]+)"/)[1];
  sample('hyper.png', ['--adapters', join(MODELS, 'hypernoise.safetensors'), '--strength', strength]);
  server = await serve({ '/': join(ROOT, 'www'), '/native/': fixtures });
  base = `http://127.0.0.1:${server.address().port}`;
  mkdirSync(ARTIFACTS, { recursive: true });
});

after(() => {
  server?.close();
  // what a visitor downloads before the first image, whichever path the browser takes
  const paths = [bench.cpu_bytes_before_first_image_gzip, bench.webgpu_bytes_before_first_image_gzip].filter(Number.isFinite);
  if (paths.length) bench.bytes_before_first_image_gzip = Math.max(...paths);
  writeFileSync(join(ARTIFACTS, 'browser-bench.json'), JSON.stringify(bench, null, 2));
});

/** Bytes, gzip-compressed as a server would send them, of the files the page fetched. */
function gzipBytes(urls) {
  const file = (url) => join(ROOT, 'www', new URL(url).pathname.replace(/\/$/, '/index.html'));
  return urls.reduce((sum, url) => sum + gzipSync(readFileSync(file(url)), { level: 9 }).length, 0);
}

async function readyPage(browser, query = '', init = undefined) {
  const { page, log } = await openPage(browser, `${base}/${query}`, init);
  const failed = async () => assert.fail(`${await page.textContent('#status')}\n${log.join('\n')}`);
  await page.waitForSelector('#status[data-state="ready"], #status[data-state="error"]', { timeout: 120000 }).catch(failed);
  if (await page.getAttribute('#status', 'data-state') !== 'ready') await failed();
  await page.waitForFunction(() => document.body.dataset.firstImageMs, null, { timeout: 120000 });
  // what had arrived when the first image was drawn, by the page's own resource timings
  const beforeFirstImage = await page.evaluate(() => {
    const first = Number(document.body.dataset.firstImageMs);
    const arrived = performance.getEntriesByType('resource').filter((e) => e.responseEnd <= first && e.responseStatus === 200);
    return [location.href.split('?')[0], ...arrived.map((e) => e.name)];
  });
  return { page, log, beforeFirstImage };
}

/** Base and HyperNoise generations in turns, `n` of each after one warm-up of each, by their own
 * timings (prompt to pixels read back): each one's median, and the median of each pair's ratio,
 * which a machine's drift between two runs moves less than it moves the two medians. */
async function pairedMs(page, request, n) {
  return page.evaluate(async ([request, n]) => {
    const time = async (hypernoise) => (await window.hypernoise.generate({ ...request, hypernoise })).timings.generateMs;
    await time(false);
    await time(true);
    const pairs = [];
    for (let k = 0; k < n; k++) pairs.push([await time(false), await time(true)]);
    const median = (values) => values.sort((a, b) => a - b)[Math.floor(n / 2)];
    return { base: median(pairs.map((p) => p[0])), hypernoise: median(pairs.map((p) => p[1])), ratio: median(pairs.map(([b, h]) => h / b)) };
  }, [request, n]);
}

/** The row of eight seeds: every image framed by its verdict, and the counts saying as much. */
async function seedRow(page) {
  await page.waitForFunction((want) => (document.body.dataset.seeds || '').startsWith(want), `${PROMPT}#${SEED}:`, { timeout: 300000 });
  const row = await page.evaluate(() => ['base', 'hyper'].map((r) => [...document.querySelectorAll(`#seeds-${r} canvas`)].map((c) => c.className)));
  for (const frames of row) {
    assert.equal(frames.length, 8);
    assert.ok(frames.every((f) => f === 'ok' || f === 'wrong'), frames.join());
  }
  const count = (frames) => frames.filter((f) => f === 'ok').length;
  assert.equal(await page.textContent('#seeds-summary'), `base ${count(row[0])}/8, HyperNoise ${count(row[1])}/8`);
}

/** Relative L1 error of a page canvas's RGB against a native PNG. */
async function relativeError(page, canvasId, png) {
  return page.evaluate(async ([id, src]) => {
    const ref = await createImageBitmap(await (await fetch(src)).blob());
    const c = new OffscreenCanvas(ref.width, ref.height);
    c.getContext('2d').drawImage(ref, 0, 0);
    const want = c.getContext('2d').getImageData(0, 0, ref.width, ref.height).data;
    const got = document.getElementById(id).getContext('2d').getImageData(0, 0, ref.width, ref.height).data;
    let diff = 0, norm = 0, differing = 0;
    for (let k = 0; k < want.length; k++) {
      if (k % 4 === 3) continue;
      diff += Math.abs(want[k] - got[k]); norm += Math.abs(want[k]); differing += want[k] !== got[k];
    }
    return { relative: diff / norm, differing };
  }, [canvasId, `/native/${png}`]);
}

async function generateAndCompare(page, label, pairs) {
  await page.fill('#prompt', PROMPT);
  await page.fill('#seed', String(SEED));
  await page.click('#render');
  await page.waitForFunction((want) => document.body.dataset.rendered === want, `${PROMPT}#${SEED}`, { timeout: 120000 });
  for (const [canvas, png] of [['base', 'base.png'], ['hyper', 'hyper.png']]) {
    const e = await relativeError(page, canvas, png);
    assert.ok(e.relative < 1e-3, `${label} ${canvas}: relative error ${e.relative} (${e.differing} values differ) vs the native CPU`);
    bench[`${label}_${canvas}_relative_error`] = e.relative;
  }
  // the page says which hypernetwork computed f: the coarse one scripts/build-web.sh ships
  assert.match(await page.textContent('#hyper-design'), /^f: LoRA copy of the generator, run on the noise's 16x16 block means/);
  await seedRow(page);
  const timed = await pairedMs(page, { prompt: PROMPT, seed: SEED }, pairs);
  bench[`${label}_base_ms`] = timed.base;
  bench[`${label}_hypernoise_ms`] = timed.hypernoise;
  bench[`${label}_hypernoise_over_base`] = timed.ratio;
}

/** ReNO from the page's button, 3 steps, streamed into the ReNO panel. */
async function runReno(page, label) {
  await page.fill('#reno-iterations', '3');
  await page.click('#reno-run');
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.reno), null, { timeout: 300000 });
  assert.equal(await page.evaluate(() => document.body.dataset.reno), 'done', await page.textContent('#error'));
  const cost = await page.textContent('#reno-time');
  assert.match(cost, /^step 3\/3: [\d.]+ s, \d+ ms\/step$/);
  bench[`${label}_reno_ms_per_step`] = Number(cost.match(/(\d+) ms\/step$/)[1]);
}

/** The paths of the fetched files whose names end with `suffix`. */
const fetched = (urls, suffix) => urls.map((url) => new URL(url).pathname).filter((path) => path.endsWith(suffix));

/** The demo page on one backend: status and notice, the files fetched before the first image,
 * native-matching pixels, live ReNO, a screenshot. `module`: the build the first image came
 * from; `init`: a script run before the page's own; `pairs`: timed base and HyperNoise generations. */
async function demoMatchesNative(browser, { query = '', init, label, backend, notice, module, pairs = 5 }) {
  const { page, beforeFirstImage } = await readyPage(browser, query, init);
  // the first image waits for one build of the module and the generator alone: the
  // hypernetwork and the reward come after it
  assert.deepEqual(fetched(beforeFirstImage, '.wasm'), [`/pkg/${module}_bg.wasm`]);
  assert.deepEqual(fetched(beforeFirstImage, '.safetensors'), ['/pkg/models/generator.safetensors']);
  bench[`${label}_bytes_before_first_image_gzip`] = gzipBytes(beforeFirstImage);
  bench[`${label}_first_image_ms`] = Number(await page.evaluate(() => document.body.dataset.firstImageMs));
  // the backend the page settles on (after moving to WebGPU, where it does)
  await page.waitForFunction(() => document.body.dataset.backend, null, { timeout: 300000 });
  assert.match(await page.evaluate(() => document.body.dataset.backend), backend, await page.textContent('#status'));
  assert.match(await page.textContent('#status'), backend);
  assert.equal(await page.isVisible('#notice'), notice !== null);
  if (notice) assert.match(await page.textContent('#notice'), notice);
  await generateAndCompare(page, label, pairs);
  await runReno(page, label);
  await page.screenshot({ path: join(ARTIFACTS, `demo-${label}.png`), fullPage: true });
}

/** SwiftShader's adapter presented as hardware, as a browser with a GPU offers one. */
function adapterAsHardware() {
  for (const type of [globalThis.GPUAdapterInfo, globalThis.GPUAdapter]) {
    if (type) Object.defineProperty(type.prototype, 'isFallbackAdapter', { get: () => false });
  }
}

test('WebGPU: the page generates base and HyperNoise images matching the native CPU, and runs ReNO live', async () => {
  const browser = await launch(WEBGPU);
  try {
    // by default a software adapter (SwiftShader, all this machine has) loses to the CPU backend
    // (so the page fetches the CPU-only build of the module)
    const auto = await readyPage(browser);
    assert.match(await auto.page.textContent('#status'), /cpu \(WebAssembly\)/);
    assert.match(await auto.page.textContent('#notice'), /only a software adapter \(google swiftshader\)/);
    assert.deepEqual(fetched(auto.beforeFirstImage, '.wasm'), ['/pkg/hypernoise_web_cpu_bg.wasm']);
    await auto.page.close();
    // forced, WebGPU draws the first image itself, from the WebGPU build
    const forced = await readyPage(browser, '?backend=webgpu');
    assert.deepEqual(fetched(forced.beforeFirstImage, '.wasm'), ['/pkg/hypernoise_web_bg.wasm']);
    assert.match(await forced.page.textContent('#status'), /webgpu \(google swiftshader\)/);
    bench.webgpu_forced_bytes_before_first_image_gzip = gzipBytes(forced.beforeFirstImage);
    await forced.page.close();
    // with a hardware adapter the first image comes from the CPU-only build, then WebGPU takes over
    await demoMatchesNative(browser, { init: adapterAsHardware, label: 'webgpu', backend: /webgpu \(google swiftshader\)/, notice: null, module: 'hypernoise_web_cpu' });
  } finally {
    await browser.close();
  }
});

test('without WebGPU the page falls back to the CPU, says so, and matches the native CPU', async () => {
  const browser = await launch();
  try {
    await demoMatchesNative(browser, { label: 'cpu', backend: /cpu \(WebAssembly\)/, notice: /WebGPU.*running on the CPU in WebAssembly/, module: 'hypernoise_web_cpu', pairs: 11 });
  } finally {
    await browser.close();
  }
});

test('the embedding example works, and bad models or requests are readable errors', async () => {
  const browser = await launch();
  try {
    const { page, log } = await openPage(browser, `${base}/pkg/example.html`);
    await page.waitForFunction(() => document.body.dataset.done, null, { timeout: 120000 }).catch(() => assert.fail(log.join('\n')));
    assert.match(await page.textContent('#status'), /^cpu \(WebAssembly\): base .* ms\), HyperNoise .* ms\)$/);
    const errors = await page.evaluate(async () => {
      const pkg = await import('/pkg/index.js');
      const message = (p) => p.then(() => 'no error', (e) => e.message);
      const bytes = new Uint8Array(await (await fetch('/pkg/models/generator.safetensors')).arrayBuffer());
      const model = await pkg.loadHyperNoise({ backend: 'cpu' });
      const image = (await model.generate({ prompt: 'a red circle', seed: 1 })).image;
      const noReward = await pkg.loadHyperNoise({ reward: '/pkg/models/nothing.safetensors', backend: 'cpu' });
      const wrongHypernetwork = await pkg.loadHyperNoise({ hypernetwork: '/pkg/models/reward.safetensors', backend: 'cpu' });
      return {
        truncated: await message(pkg.loadHyperNoise({ generator: bytes.slice(0, bytes.length - 1000), backend: 'cpu' })),
        missing: await message(noReward.score({ prompt: 'a red circle', image })),
        missingAgain: await message(noReward.preload()),
        missingReno: await message(noReward.startReno({ prompt: 'a red circle', iterations: 1 })),
        wrongHypernetwork: await message(wrongHypernetwork.generate({ prompt: 'a red circle', seed: 1, hypernoise: true })),
        baseStillDraws: await message(wrongHypernetwork.generate({ prompt: 'a red circle', seed: 1 })),
        swapped: await message(pkg.loadHyperNoise({ generator: '/pkg/models/reward.safetensors', backend: 'cpu' })),
        score: await model.score({ prompt: 'a red circle', image }),
        scoreField: await message(model.score({ prompt: 'a red circle', picture: image })),
        scoreSize: await message(model.score({ prompt: 'a red circle', image: { width: 2, height: 2, rgba: new Uint8Array(16) } })),
        unknownWord: await message(model.generate({ prompt: 'a red dog', seed: 1 })),
        badSeed: await message(model.generate({ prompt: 'a red circle', seed: 1.5 })),
        misspelt: await message(model.generate({ prompt: 'a red circle', seed: 1, hypernoise: true, strenght: 2 })),
        strength: await message(model.generate({ prompt: 'a red circle', seed: 1, hypernoise: true, strength: 3 })),
        renoField: await message(model.startReno({ prompt: 'a red circle', iteratons: 5 })),
        urlObject: await message(pkg.loadHyperNoise({ generator: new URL('/pkg/models/generator.safetensors', location.href), backend: 'cpu' })),
        webgpuFromCpuPage: await message(pkg.loadHyperNoise({ backend: 'webgpu' })),
      };
    });
    assert.match(errors.truncated, /truncated/);
    assert.match(errors.missing, /reward: cannot fetch .*nothing.safetensors: HTTP 404/);
    assert.equal(errors.missingAgain, errors.missing, 'one fetch, one error, for every caller');
    assert.equal(errors.missingReno, errors.missing);
    assert.match(errors.wrongHypernetwork, /hypernetwork: this file holds a 'reward' model, not a 'adapters'/);
    assert.equal(errors.baseStillDraws, 'no error');
    assert.ok(Number.isFinite(errors.score), `score ${errors.score}`);
    assert.match(errors.scoreField, /score: unknown field 'picture', expected one of: prompt, image/);
    assert.match(errors.scoreSize, /score: the reward scores 64x64 images, not 2x2/);
    assert.match(errors.swapped, /'reward' model, not a 'generator'/);
    assert.match(errors.unknownWord, /unknown word 'dog'/);
    assert.match(errors.badSeed, /seed must be a whole number/);
    assert.match(errors.misspelt, /generate: unknown field 'strenght', expected one of: prompt, seed, hypernoise, strength/);
    assert.match(errors.strength, /strength must be a number from 0 to 2, got 3/);
    assert.match(errors.renoField, /startReno: unknown field 'iteratons'/);
    assert.equal(errors.urlObject, 'no error', 'a URL object is a model source, as index.d.ts says');
    // the page loaded the CPU-only build; asked for WebGPU, the package fetches the WebGPU build,
    // which says what this browser lacks
    assert.match(errors.webgpuFromCpuPage, /WebGPU offers no adapter on this device/);
  } finally {
    await browser.close();
  }
});
