// The embeddable package: one wasm module (the model crate on WebGPU or the CPU) and the
// models it runs, loaded from this folder unless you pass your own URLs or bytes.
import init, { HyperNoise, RenoSession, vocabulary, describePrompt, renderScene, evaluate } from './hypernoise_web.js';

export { HyperNoise, RenoSession, vocabulary, describePrompt, renderScene, evaluate };

const beside = (file) => new URL(file, import.meta.url).href;
let ready;

/** Instantiates the wasm module (once; later calls share it). */
export function initialise(wasm) {
  ready ??= init({ module_or_path: wasm ?? beside('hypernoise_web_bg.wasm') });
  return ready;
}

/** Loads the generator (the package's own by default); the noise hypernetwork and the reward
 * given (the package's own by default) are loaded when first needed. */
export async function loadHyperNoise(options = {}) {
  await initialise();
  return HyperNoise.load({
    generator: options.generator ?? beside('models/generator.safetensors'),
    hypernetwork: options.hypernetwork ?? beside('models/hypernoise.safetensors'),
    reward: options.reward ?? beside('models/reward.safetensors'),
    backend: options.backend ?? 'auto',
  });
}

/** Runs ReNO to the end, calling `onStep(update)` after every iteration; resolves to the last update. */
export async function runReno(model, request, onStep = () => {}) {
  const session = await model.startReno(request);
  let update;
  do {
    update = await session.step();
    onStep(update);
  } while (!update.done);
  session.free();
  return update;
}

/** Draws a `{width, height, rgba}` picture on a canvas (resizing it). */
export function drawPicture(canvas, picture) {
  canvas.width = picture.width;
  canvas.height = picture.height;
  const pixels = new Uint8ClampedArray(picture.rgba.buffer, picture.rgba.byteOffset, picture.rgba.byteLength);
  canvas.getContext('2d').putImageData(new ImageData(pixels, picture.width, picture.height), 0, 0);
}
