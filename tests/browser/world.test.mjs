// The demo page loads the wasm package in headless Chromium and renders world scenes that
// match the native renderer pixel for pixel; bad prompts show a readable error.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '../../scripts/serve.mjs';
import { launch, openPage, ROOT, TRAINER, ARTIFACTS } from './chromium.mjs';

const CASES = [
  ['a blue circle to the left of a yellow square', 0],
  ['three green triangles', 7],
  ['a red star and an orange circle', 42],
];

let server, browser, base, fixtures;

before(async () => {
  fixtures = mkdtempSync(join(tmpdir(), 'hypernoise-fixtures-'));
  CASES.forEach(([prompt, seed], i) =>
    execFileSync(TRAINER, ['render', '--prompt', prompt, '--seed', String(seed), '--out', join(fixtures, `${i}.png`)]));
  server = await serve({ '/': join(ROOT, 'www'), '/fixtures/': fixtures });
  base = `http://127.0.0.1:${server.address().port}`;
  browser = await launch();
  mkdirSync(ARTIFACTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  server?.close();
});

async function renderOnPage(page, prompt, seed) {
  await page.fill('#prompt', prompt);
  await page.fill('#seed', String(seed));
  await page.click('#render');
  await page.waitForFunction((want) => [want, 'error'].includes(document.body.dataset.rendered), `${prompt}#${seed}`);
}

test('page renders world scenes identical to the native renderer', async () => {
  const { page, log } = await openPage(browser, `${base}/`);
  await page.waitForSelector('#status[data-state="ready"]', { timeout: 60000 }).catch(() => assert.fail(log.join('\n')));
  for (const [i, [prompt, seed]] of CASES.entries()) {
    await renderOnPage(page, prompt, seed);
    const diff = await page.evaluate(async (src) => {
      const ref = await createImageBitmap(await (await fetch(src)).blob());
      const c = new OffscreenCanvas(ref.width, ref.height);
      const ctx = c.getContext('2d');
      ctx.drawImage(ref, 0, 0);
      const want = ctx.getImageData(0, 0, ref.width, ref.height).data;
      const got = document.getElementById('scene').getContext('2d').getImageData(0, 0, ref.width, ref.height).data;
      let differing = 0;
      for (let k = 0; k < want.length; k++) differing += want[k] !== got[k];
      return { differing, bytes: want.length, size: [ref.width, ref.height] };
    }, `/fixtures/${i}.png`);
    assert.deepEqual(diff.size, [64, 64]);
    assert.equal(diff.differing, 0, `${prompt} (seed ${seed}): ${diff.differing} of ${diff.bytes} bytes differ`);
    assert.equal(await page.textContent('#verdict'), 'correct');
  }
  await page.screenshot({ path: join(ARTIFACTS, 'world-page.png'), fullPage: true });
});

test('an unknown word shows an error that names it', async () => {
  const { page } = await openPage(browser, `${base}/`);
  await page.waitForSelector('#status[data-state="ready"]');
  await renderOnPage(page, 'a red dog', 0);
  const error = await page.textContent('#error');
  assert.match(error, /unknown word 'dog'/);
  assert.match(error, /circle/);
  assert.equal(await page.isVisible('#error'), true);
});
