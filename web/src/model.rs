//! The JS API over the models: `HyperNoise.load(...)`, `generate(...)`, `score(...)` and live
//! ReNO sessions. `load` resolves once the generator is ready; the hypernetwork and the reward
//! are fetched when first needed (HyperNoise, a score, ReNO) or on `preload()`, each once.

use crate::backend::{self, Choice};
use crate::engine::{Engine, Generation, Part, RenoProgress, RenoSteps};
use crate::{seed_from_js, to_js, verdict, Picture};
use hypernoise::optimize::reno::RenoConfig;
use hypernoise::pipeline::{PipelineError, STRENGTHS};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LoadOptions {
    #[serde(with = "serde_wasm_bindgen::preserve")]
    generator: JsValue,
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    hypernetwork: JsValue,
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    reward: JsValue,
    backend: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GenerateRequest {
    prompt: String,
    #[serde(default)]
    seed: f64,
    /// Run the noise hypernetwork first.
    #[serde(default)]
    hypernoise: bool,
    /// Scale of f: z' = z + strength f(z, c).
    strength: Option<f32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScoreRequest {
    prompt: String,
    image: PictureIn,
}

/// A picture handed in: `{width, height, rgba}` as `generate` returns them.
#[derive(Deserialize)]
struct PictureIn {
    width: usize,
    height: usize,
    #[serde(with = "serde_bytes")]
    rgba: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RenoRequest {
    prompt: String,
    #[serde(default)]
    seed: f64,
    iterations: Option<usize>,
}

impl LoadOptions {
    const FIELDS: &[&str] = &["generator", "hypernetwork", "reward", "backend"];
}

impl GenerateRequest {
    const FIELDS: &[&str] = &["prompt", "seed", "hypernoise", "strength"];
}

impl RenoRequest {
    const FIELDS: &[&str] = &["prompt", "seed", "iterations"];
}

impl ScoreRequest {
    const FIELDS: &[&str] = &["prompt", "image"];
}

/// A request object read as `T`, refusing properties `T` does not have: serde-wasm-bindgen
/// looks up only the fields it knows, so `deny_unknown_fields` alone lets a misspelt option
/// (`strenght`) pass silently.
fn strict<T: serde::de::DeserializeOwned>(value: JsValue, what: &str, fields: &[&str]) -> Result<T, String> {
    if let Some(object) = value.dyn_ref::<js_sys::Object>() {
        for key in js_sys::Object::keys(object).iter().filter_map(|k| k.as_string()) {
            if !fields.contains(&key.as_str()) {
                return Err(format!("{what}: unknown field '{key}', expected one of: {}", fields.join(", ")));
            }
        }
    }
    serde_wasm_bindgen::from_value(value).map_err(|e| format!("{what}: {e}"))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Timings {
    generate_ms: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Generated {
    image: Picture,
    /// The noise the generator received, shown at +-3 standard deviations.
    noise: Picture,
    /// The hypernetwork's change to the noise, s f(z, c), shown at +-`offset_scale`.
    offset: Option<Picture>,
    offset_scale: Option<f32>,
    /// Root mean square of s f(z, c) (the noise itself has 1).
    offset_rms: Option<f32>,
    /// What computed f (HyperNoise only), in words.
    hypernetwork: Option<String>,
    verdict: hypernoise::eval::Verdict,
    timings: Timings,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RenoUpdate {
    iteration: usize,
    iterations: usize,
    reward: f32,
    best: Picture,
    best_reward: f32,
    verdict: hypernoise::eval::Verdict,
    elapsed_ms: f64,
    done: bool,
}

/// Channel-major (3, res, res) values in [-scale, scale] as an RGBA picture.
fn signed_picture(values: &[f32], res: usize, scale: f32) -> Picture {
    let byte = |v: f32| ((v / scale).clamp(-1.0, 1.0) * 127.5 + 127.5).round() as u8;
    let plane = res * res;
    let rgba =
        (0..plane).flat_map(|p| [byte(values[p]), byte(values[plane + p]), byte(values[2 * plane + p]), 255]).collect();
    Picture { width: res, height: res, rgba }
}

fn described(prompt: &str, g: Generation, res: usize) -> Result<Generated, String> {
    let offset_scale = g.offset.as_ref().map(|o| o.iter().fold(1e-6f32, |m, v| m.max(v.abs())));
    let offset_rms = g.offset.as_ref().map(|o| (o.iter().map(|v| v * v).sum::<f32>() / o.len() as f32).sqrt());
    Ok(Generated {
        verdict: verdict(prompt, &g.image)?,
        image: Picture::of(&g.image),
        noise: signed_picture(&g.noise, res, 3.0),
        offset: g.offset.as_ref().zip(offset_scale).map(|(o, s)| signed_picture(o, res, s)),
        offset_scale,
        offset_rms,
        hypernetwork: g.hypernetwork,
        timings: Timings { generate_ms: g.generate_ms },
    })
}

fn js_error(message: impl AsRef<str>) -> JsValue {
    JsError::new(message.as_ref()).into()
}

/// A model added after the generator: where it comes from, and its loading once begun (a
/// promise, so that every caller that needs it awaits the same download).
struct Lazy {
    part: Part,
    source: JsValue,
    loading: RefCell<Option<js_sys::Promise>>,
}

impl Lazy {
    fn new(part: Part, source: JsValue) -> Rc<Self> {
        Rc::new(Lazy { part, source, loading: RefCell::new(None) })
    }

    /// Resolves once the part is added to `engine`; fetches and adds it on the first call (and
    /// on the next call after a failure), every call meanwhile awaiting the same loading.
    async fn ready(self: Rc<Self>, engine: Rc<dyn Engine>) -> Result<(), JsValue> {
        if engine.has(self.part) {
            return Ok(());
        }
        if self.source.is_undefined() || self.source.is_null() {
            return Err(js_error(format!("no {} was given to HyperNoise.load", self.part.name())));
        }
        let promise = self
            .loading
            .borrow_mut()
            .get_or_insert_with(|| {
                let (lazy, engine) = (self.clone(), engine.clone());
                future_to_promise(async move {
                    let bytes = crate::sources::bytes(&lazy.source, lazy.part.name()).await.map_err(js_error)?;
                    engine.add(lazy.part, &bytes).map_err(js_error)?;
                    Ok(JsValue::UNDEFINED)
                })
            })
            .clone();
        let loaded = JsFuture::from(promise.clone()).await.map(|_| ());
        let mut loading = self.loading.borrow_mut();
        // a later call tries again (the network may be back), unless one already does
        if loaded.is_err() && loading.as_ref().is_some_and(|p| js_sys::Object::is(p, &promise)) {
            loading.take();
        }
        loaded
    }
}

/// The generator, its noise hypernetwork and the reward, loaded on WebGPU or the CPU.
#[wasm_bindgen]
pub struct HyperNoise {
    engine: Rc<dyn Engine>,
    backend: String,
    notice: Option<String>,
    hypernetwork: Rc<Lazy>,
    reward: Rc<Lazy>,
}

#[wasm_bindgen]
impl HyperNoise {
    /// `HyperNoise.load({generator, hypernetwork, reward, backend})`: each model a URL, a
    /// `Uint8Array` or an `ArrayBuffer` (safetensors); `backend` "auto" (default: WebGPU, else
    /// the CPU with a notice), "webgpu" or "cpu". Resolves to a `HyperNoise` once the generator
    /// is loaded; the hypernetwork and the reward are loaded when first needed (or `preload()`).
    pub fn load(options: JsValue) -> js_sys::Promise {
        future_to_promise(async move {
            let o: LoadOptions = strict(options, "load options", LoadOptions::FIELDS).map_err(js_error)?;
            let choice = Choice::parse(o.backend.as_deref()).map_err(js_error)?;
            let generator = crate::sources::bytes(&o.generator, "generator").await.map_err(js_error)?;
            let loaded = backend::load(choice, &generator).await.map_err(js_error)?;
            Ok(HyperNoise {
                engine: loaded.engine,
                backend: loaded.backend,
                notice: loaded.notice,
                hypernetwork: Lazy::new(Part::Hypernetwork, o.hypernetwork),
                reward: Lazy::new(Part::Reward, o.reward),
            }
            .into())
        })
    }

    /// Loads the hypernetwork and the reward now (each at most once); rejects with the first
    /// one's error.
    pub fn preload(&self) -> js_sys::Promise {
        let (engine, parts) = (self.engine.clone(), [self.hypernetwork.clone(), self.reward.clone()]);
        future_to_promise(async move {
            for part in parts {
                part.ready(engine.clone()).await?;
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Where the models run, e.g. "webgpu (...)" or "cpu (WebAssembly)".
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.clone()
    }

    /// Set when WebGPU was wanted but is unavailable, saying why.
    #[wasm_bindgen(getter)]
    pub fn notice(&self) -> Option<String> {
        self.notice.clone()
    }

    #[wasm_bindgen(getter)]
    pub fn resolution(&self) -> usize {
        self.engine.resolution()
    }

    /// `generate({prompt, seed, hypernoise, strength})` resolves to `{image, noise, offset,
    /// offsetScale, offsetRms, reward, verdict, timings: {generateMs, rewardMs}}`; pictures are
    /// `{width, height, rgba}`. Rejects with a readable error for unknown words or bad input.
    pub fn generate(&self, request: JsValue) -> js_sys::Promise {
        let (engine, hypernetwork) = (self.engine.clone(), self.hypernetwork.clone());
        future_to_promise(async move {
            let r: GenerateRequest = strict(request, "generate", GenerateRequest::FIELDS).map_err(js_error)?;
            let seed = seed_from_js(r.seed)?;
            let strength = r.strength.unwrap_or(1.0);
            if !STRENGTHS.contains(&strength) {
                return Err(js_error(PipelineError::Strength(strength).to_string()));
            }
            if r.hypernoise {
                hypernetwork.ready(engine.clone()).await?;
            }
            let g = engine.generate(&r.prompt, seed, r.hypernoise.then_some(strength)).await.map_err(js_error)?;
            to_js(&described(&r.prompt, g, engine.resolution()).map_err(js_error)?).map_err(Into::into)
        })
    }

    /// `score({prompt, image})`: the learned reward of a picture (`{width, height, rgba}`, as
    /// `generate` returns) for a prompt; loads the reward on first use.
    pub fn score(&self, request: JsValue) -> js_sys::Promise {
        let (engine, reward) = (self.engine.clone(), self.reward.clone());
        future_to_promise(async move {
            let r: ScoreRequest = strict(request, "score", ScoreRequest::FIELDS).map_err(js_error)?;
            let image = hypernoise::world::Image::from_rgba(r.image.width, r.image.height, &r.image.rgba)
                .map_err(|e| js_error(format!("score: {e}")))?;
            if image.width != engine.resolution() || image.height != engine.resolution() {
                let side = engine.resolution();
                return Err(js_error(format!(
                    "score: the reward scores {side}x{side} images, not {}x{}",
                    image.width, image.height
                )));
            }
            reward.ready(engine.clone()).await?;
            Ok(engine.score(&r.prompt, &image).await.map_err(js_error)?.into())
        })
    }

    /// Starts ReNO (the paper's settings; `iterations` default 50) on the base generator's
    /// noise for `{prompt, seed}`; resolves to a session (the reward loaded first, if need be):
    /// call `step()` on it for each iteration.
    #[wasm_bindgen(js_name = startReno)]
    pub fn start_reno(&self, request: JsValue) -> js_sys::Promise {
        let (engine, reward) = (self.engine.clone(), self.reward.clone());
        future_to_promise(async move {
            let r: RenoRequest = strict(request, "startReno", RenoRequest::FIELDS).map_err(js_error)?;
            let seed = seed_from_js(r.seed)?;
            let config = RenoConfig { iterations: r.iterations.unwrap_or(50), ..RenoConfig::default() };
            if !(1..=500).contains(&config.iterations) {
                return Err(js_error("iterations must be from 1 to 500"));
            }
            reward.ready(engine.clone()).await?;
            let iterations = config.iterations;
            let steps = engine.start_reno(&r.prompt, seed, config).map_err(js_error)?;
            let session =
                RenoSession { steps: Rc::new(RefCell::new(steps)), prompt: r.prompt, iterations, started: None };
            Ok(session.into())
        })
    }
}

/// A ReNO run in progress: each `step()` does one iteration (a generator and reward pass and
/// their gradient) and resolves to `{iteration, iterations, reward, best, bestReward, verdict,
/// elapsedMs, done}`, so a page can show the optimisation live.
#[wasm_bindgen]
pub struct RenoSession {
    steps: Rc<RefCell<Box<dyn RenoSteps>>>,
    prompt: String,
    iterations: usize,
    started: Option<f64>,
}

#[wasm_bindgen]
impl RenoSession {
    // The borrow held across the await is the run's lock: a second step started while one runs
    // fails at `try_borrow_mut` with a message instead of interleaving with it.
    #[allow(clippy::await_holding_refcell_ref)]
    pub fn step(&mut self) -> js_sys::Promise {
        let started = *self.started.get_or_insert_with(crate::clock::now_ms);
        let (steps, prompt, iterations) = (self.steps.clone(), self.prompt.clone(), self.iterations);
        future_to_promise(async move {
            let mut steps = steps
                .try_borrow_mut()
                .map_err(|_| js_error("a step of this ReNO run is already running: await it first"))?;
            let p: RenoProgress = steps.step().await.map_err(js_error)?;
            let update = RenoUpdate {
                verdict: verdict(&prompt, &p.best).map_err(js_error)?,
                iteration: p.iteration,
                iterations,
                reward: p.reward,
                best: Picture::of(&p.best),
                best_reward: p.best_reward,
                elapsed_ms: crate::clock::now_ms() - started,
                done: p.done,
            };
            to_js(&update).map_err(Into::into)
        })
    }
}
