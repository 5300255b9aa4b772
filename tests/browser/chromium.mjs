// The browser tests' shared setup: paths, and Debian's Chromium through playwright-core
// (never a downloaded browser).
import { chromium } from 'playwright-core';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** The repository (works on Node 18, which lacks import.meta.dirname). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The native trainer the pages are compared with, and where screenshots and timings go. */
export const TRAINER = process.env.TRAINER || join(ROOT, 'target/debug/trainer');
export const ARTIFACTS = process.env.ARTIFACTS || join(ROOT, 'target/test-artifacts');

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const QUIET = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
export const WEBGPU = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'];

export async function launch(extraArgs = []) {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...QUIET, ...extraArgs] });
}

/** A page that fails the test on uncaught page errors, with console output kept for messages;
 * `init` runs in the page before its own scripts. */
export async function openPage(browser, url, init) {
  const page = await browser.newPage();
  if (init) await page.addInitScript(init);
  const log = [];
  page.on('console', (m) => log.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => log.push(`[pageerror] ${e.message}`));
  await page.goto(url);
  return { page, log };
}
