// The embeddable package: a wasm module (the model crate on WebGPU or the CPU) and the models it
// runs, loaded from this folder unless you pass your own URLs or bytes. The module comes in two
// builds: hypernoise_web (WebGPU and the CPU) and hypernoise_web_cpu (the CPU alone, a quarter of
// the download), fetched when the CPU will run the models anyway.

// Bound by `initialise`, from whichever build it loaded.
export let HyperNoise, RenoSession, vocabulary, describePrompt, renderScene, evaluate;

const beside = (file) => new URL(file, import.meta.url).href;
let ready;
const builds = {};

/** Whether the browser offers a hardware WebGPU adapter (a software one loses to the CPU). */
export async function hardwareWebGpu() {
  try {
    const adapter = await navigator.gpu?.requestAdapter();
    return Boolean(adapter) && !(adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter);
  } catch {
    return false;
  }
}

/** The glue of one build, fetched and instantiated once. */
function build(name, wasm) {
  builds[name] ??= import(`./${name}.js`).then(async (glue) => {
    await glue.default({ module_or_path: wasm ?? beside(`${name}_bg.wasm`) });
    return glue;
  });
  return builds[name];
}

async function instantiate({ backend = 'auto', wasm } = {}) {
  const webgpu = backend === 'webgpu' || (backend === 'auto' && (await hardwareWebGpu()));
  const name = webgpu ? 'hypernoise_web' : 'hypernoise_web_cpu';
  ({ HyperNoise, RenoSession, vocabulary, describePrompt, renderScene, evaluate } = await build(name, wasm));
  return name;
}

/** Instantiates the wasm module, the build `backend` needs (once; later calls share it), and
 * resolves to its name. `wasm`: your own URL or bytes of that build's `_bg.wasm`. */
export function initialise(options = {}) {
  ready ??= instantiate(options);
  return ready;
}

/** Loads the generator (the package's own by default); the noise hypernetwork and the reward
 * given (the package's own by default) are loaded when first needed. */
export async function loadHyperNoise(options = {}) {
  const name = await initialise({ backend: options.backend });
  // WebGPU asked of a module initialised without it: the WebGPU build, fetched now
  const webgpuBuild = options.backend === 'webgpu' && name === 'hypernoise_web_cpu';
  const glue = webgpuBuild ? await build('hypernoise_web') : { HyperNoise };
  return glue.HyperNoise.load({
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
