// The demo page: everything runs client-side through the wasm package (./pkg).
import init, { vocabulary, describePrompt, renderScene, evaluate } from './pkg/hypernoise_web.js';

const $ = (id) => document.getElementById(id);
const status = (state, text) => { $('status').dataset.state = state; $('status').textContent = text; };

function showError(message) {
  $('error').hidden = !message;
  $('error').textContent = message || '';
}

function draw() {
  const prompt = $('prompt').value;
  const seed = Number($('seed').value);
  try {
    const info = describePrompt(prompt);
    const px = renderScene(prompt, seed, 64);
    const canvas = $('scene');
    canvas.width = px.width; canvas.height = px.height;
    canvas.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(px.rgba), px.width, px.height), 0, 0);
    const verdict = evaluate(prompt, px.width, px.height, px.rgba);
    $('category').textContent = info.category;
    $('split').textContent = info.split === 'train' ? 'training composition' : `held out (${info.split})`;
    $('verdict').textContent = verdict.correct ? 'correct' : verdict.reason;
    $('verdict').className = verdict.correct ? 'ok' : 'wrong';
    showError('');
    document.body.dataset.rendered = `${prompt}#${seed}`;
  } catch (e) {
    showError(e.message || String(e));
    document.body.dataset.rendered = 'error';
  }
}

try {
  await init();
  for (const word of vocabulary()) {
    const b = document.createElement('button');
    b.type = 'button'; b.textContent = word;
    b.onclick = () => { $('prompt').value = ($('prompt').value.trim() + ' ' + word).trim(); $('prompt').focus(); };
    $('vocabulary').append(b);
  }
  $('controls').onsubmit = (e) => { e.preventDefault(); draw(); };
  $('render').disabled = false;
  status('ready', 'Ready: rendering runs in WebAssembly on this device.');
  draw();
} catch (e) {
  status('error', 'Could not load the model package: ' + (e.message || e));
}
