// The demo page: everything runs client-side through the embeddable package (./pkg).
// ?backend=cpu|webgpu forces a backend (default: WebGPU, else the CPU with a notice).
import { initialise, hardwareWebGpu, loadHyperNoise, drawPicture, vocabulary, describePrompt, renderScene, evaluate } from './pkg/index.js';

const $ = (id) => document.getElementById(id);
const status = (state, text) => { $('status').dataset.state = state; $('status').textContent = text; };
const ms = (t) => `${t.toFixed(0)} ms`;
let model;
let renoRunning = false;
/** Seeds in the row under the main images. */
const SEEDS = 8;
/** Prompts to click: one per task type, most of them held out from training. */
const EXAMPLES = [
  'a blue circle to the left of a yellow square',
  'a red star and an orange circle',
  'three green triangles',
  'a purple square above a yellow star',
  'two blue stars',
];
let stopReno = false;

function showError(message) {
  $('error').hidden = !message;
  $('error').textContent = message || '';
}

function showVerdict(id, verdict) {
  $(id).textContent = verdict.correct ? 'correct' : verdict.reason;
  $(id).className = verdict.correct ? 'ok' : 'wrong';
}

function request() {
  return { prompt: $('prompt').value, seed: Number($('seed').value) };
}

function drawScene({ prompt, seed }) {
  const info = describePrompt(prompt);
  const px = renderScene(prompt, seed, model ? model.resolution : 64);
  drawPicture($('scene'), px);
  showVerdict('verdict', evaluate(prompt, px.width, px.height, px.rgba));
  $('category').textContent = info.category;
  $('split').textContent = info.split === 'train' ? 'training composition' : `held out (${info.split})`;
}

/** The learned reward of a shown image (the reward is fetched the first time). */
async function showReward(id, prompt, image) {
  $(id).textContent = (await model.score({ prompt, image })).toFixed(3);
}

async function drawHyperNoise(req) {
  const strength = Number($('strength').value);
  const hyper = await model.generate({ ...req, hypernoise: true, strength });
  drawPicture($('hyper'), hyper.image);
  drawPicture($('noise'), hyper.noise);
  drawPicture($('offset'), hyper.offset);
  showVerdict('hyper-verdict', hyper.verdict);
  $('hyper-time').textContent = ms(hyper.timings.generateMs);
  $('hyper-design').textContent = `f: ${hyper.hypernetwork}`;
  $('offset-scale').textContent = `±${hyper.offsetScale.toFixed(3)} (RMS ${hyper.offsetRms.toFixed(4)}; the noise has 1)`;
  await showReward('hyper-reward', req.prompt, hyper.image);
  return hyper;
}

/** Base and HyperNoise for seeds seed..seed+7 of the prompt, framed by the evaluator's verdicts. */
async function drawSeeds(req) {
  const strength = Number($('strength').value);
  $('seeds-from').textContent = req.seed;
  $('seeds-to').textContent = req.seed + SEEDS - 1;
  const correct = { base: 0, hyper: 0 };
  for (const [row, hypernoise] of [['base', false], ['hyper', true]]) {
    const cells = [];
    for (let k = 0; k < SEEDS; k++) {
      const g = await model.generate({ prompt: req.prompt, seed: req.seed + k, hypernoise, ...(hypernoise ? { strength } : {}) });
      if (document.body.dataset.rendered !== `${req.prompt}#${req.seed}`) return; // a newer prompt took over
      const canvas = document.createElement('canvas');
      drawPicture(canvas, g.image);
      canvas.className = g.verdict.correct ? 'ok' : 'wrong';
      canvas.title = `seed ${req.seed + k}: ${g.verdict.correct ? 'correct' : g.verdict.reason}`;
      cells.push(canvas);
      correct[row] += g.verdict.correct;
    }
    const label = document.createElement('span');
    label.textContent = hypernoise ? `HyperNoise ${correct.hyper}/${SEEDS}` : `base ${correct.base}/${SEEDS}`;
    $(`seeds-${row}`).replaceChildren(label, ...cells);
  }
  const summary = `base ${correct.base}/${SEEDS}, HyperNoise ${correct.hyper}/${SEEDS}`;
  $('seeds-summary').textContent = summary;
  document.body.dataset.seeds = `${req.prompt}#${req.seed}: ${summary}`;
}

async function draw() {
  const req = request();
  try {
    drawScene(req);
    $('prompt-info').textContent = '';
    if (model) {
      const base = await model.generate(req);
      drawPicture($('base'), base.image);
      // the first image waits for the generator alone; the hypernetwork and reward follow
      document.body.dataset.firstImageMs ??= String(performance.now()); // since navigation started
      showVerdict('base-verdict', base.verdict);
      $('base-time').textContent = ms(base.timings.generateMs);
      const hyper = await drawHyperNoise(req);
      await showReward('base-reward', req.prompt, base.image);
      $('prompt-info').textContent = `HyperNoise took ${(hyper.timings.generateMs / base.timings.generateMs).toFixed(2)}x the base's time on ${model.backend}.`;
    }
    showError('');
    document.body.dataset.rendered = `${req.prompt}#${req.seed}`;
    if (model) drawSeeds(req).catch((e) => showError(e.message || String(e)));
  } catch (e) {
    showError(e.message || String(e));
    document.body.dataset.rendered = 'error';
  }
}

async function runReno() {
  if (renoRunning) { stopReno = true; return; }
  const req = request();
  const iterations = Number($('reno-iterations').value);
  let session;
  renoRunning = true; stopReno = false; // before the await: a second click stops, never starts another
  try {
    session = await model.startReno({ ...req, iterations });
  } catch (e) {
    showError(e.message || String(e));
    renoRunning = false;
    return;
  }
  $('reno-run').textContent = 'Stop';
  $('reno-progress').max = iterations;
  document.body.dataset.reno = 'running';
  try {
    let u;
    do {
      u = await session.step();
      drawPicture($('reno'), u.best);
      showVerdict('reno-verdict', u.verdict);
      $('reno-reward').textContent = `${u.bestReward.toFixed(3)} (now ${u.reward.toFixed(3)})`;
      $('reno-time').textContent = `step ${u.iteration}/${u.iterations}: ${(u.elapsedMs / 1000).toFixed(1)} s, ${ms(u.elapsedMs / (u.iteration + 1))}/step`;
      $('reno-progress').value = u.iteration;
      await new Promise(requestAnimationFrame); // let the page paint between steps
    } while (!u.done && !stopReno);
    document.body.dataset.reno = u.done ? 'done' : 'stopped';
  } catch (e) {
    showError(e.message || String(e));
    document.body.dataset.reno = 'error';
  } finally {
    session.free();
    renoRunning = false;
    $('reno-run').textContent = 'Run ReNO';
  }
}

/** Switches the page to the models on WebGPU once they load; the CPU's models serve until then. */
async function moveToWebGpu() {
  try {
    const gpu = await loadHyperNoise({ backend: 'webgpu' });
    model = gpu;
    window.hypernoise = gpu;
    status('ready', `Ready: models run on ${gpu.backend} (the first images came from the CPU while it loaded).`);
  } catch (e) {
    status('ready', `Ready: models run on ${model.backend}; WebGPU did not load: ${e.message || e}`);
  }
  document.body.dataset.backend = model.backend;
}

async function main() {
  try {
    const started = performance.now();
    const requested = new URLSearchParams(location.search).get('backend') || 'auto';
    // With a hardware WebGPU adapter the first image still comes from the CPU-only build of the
    // module (a quarter of the WebGPU build's download); the WebGPU build loads behind that image.
    const cpuFirst = requested === 'auto' && (await hardwareWebGpu());
    const backend = cpuFirst ? 'cpu' : requested;
    await initialise({ backend });
    for (const word of vocabulary()) {
      const b = document.createElement('button');
      b.type = 'button'; b.textContent = word;
      b.onclick = () => { $('prompt').value = ($('prompt').value.trim() + ' ' + word).trim(); $('prompt').focus(); };
      $('vocabulary').append(b);
    }
    $('controls').onsubmit = (e) => { e.preventDefault(); draw(); };
    for (const prompt of EXAMPLES) {
      const b = document.createElement('button');
      b.type = 'button'; b.textContent = prompt;
      b.onclick = () => { $('prompt').value = prompt; if (model) draw(); };
      $('examples').append(b);
    }
    status('loading', 'Loading the models…');
    try {
      model = await loadHyperNoise({ backend });
      window.hypernoise = model; // the page's models, for the console (and the browser tests)
      $('render').disabled = false;
      $('reno-run').disabled = false;
      $('reno-run').onclick = runReno;
      $('strength').oninput = () => {
        $('strength-value').textContent = Number($('strength').value).toFixed(2);
        if (document.body.dataset.rendered && document.body.dataset.rendered !== 'error') drawHyperNoise(request()).catch((e) => showError(e.message));
      };
      if (model.notice) { $('notice').hidden = false; $('notice').textContent = model.notice; }
      const moving = cpuFirst ? ' (WebGPU loading)' : '';
      status('ready', `Ready: models run on ${model.backend}${moving}, loaded in ${ms(performance.now() - started)}.`);
      if (!cpuFirst) document.body.dataset.backend = model.backend;
    } catch (e) {
      status('error', 'Could not load the models: ' + (e.message || e));
      return;
    }
    await draw();
    if (cpuFirst) await moveToWebGpu();
  } catch (e) {
    status('error', 'Could not load the model package: ' + (e.message || e));
  }
}

main();
