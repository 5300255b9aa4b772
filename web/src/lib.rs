//! The wasm-bindgen API over the model crate, for the demo page and for sites that embed it.
//! Everything runs client-side; results are plain JS values (serde-wasm-bindgen). The world
//! (prompts, scenes, the exact evaluator) is here; the models are in [`model`].

mod backend;
mod clock;
mod engine;
pub mod model;
mod sources;

use hypernoise::eval::Verdict;
use hypernoise::world::render::render;
use hypernoise::world::split::split_of;
use hypernoise::world::{Image, PromptSpec, Scene};
use serde::Serialize;
use wasm_bindgen::prelude::*;

/// RGBA pixels, as a canvas `ImageData` wants them: `{width, height, rgba}` in JS, the bytes a
/// `Uint8Array`.
#[derive(Serialize)]
struct Picture {
    width: usize,
    height: usize,
    #[serde(with = "serde_bytes")]
    rgba: Vec<u8>,
}

impl Picture {
    fn of(image: &Image) -> Picture {
        Picture { width: image.width, height: image.height, rgba: image.to_rgba() }
    }
}

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

fn parse(prompt: &str) -> Result<PromptSpec, JsError> {
    PromptSpec::parse(prompt).map_err(|e| JsError::new(&e.to_string()))
}

fn seed_from_js(seed: f64) -> Result<u64, JsError> {
    if seed.fract() != 0.0 || !(0.0..=9_007_199_254_740_991.0).contains(&seed) {
        return Err(JsError::new(&format!("seed must be a whole number from 0 to 2^53-1, got {seed}")));
    }
    Ok(seed as u64)
}

/// The exact evaluator's verdict, its error in words.
fn verdict(prompt: &str, image: &Image) -> Result<Verdict, String> {
    hypernoise::eval::evaluate(prompt, image).map_err(|e| e.to_string())
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    serde_wasm_bindgen::to_value(value).map_err(|e| JsError::new(&e.to_string()))
}

/// The words prompts may use.
#[wasm_bindgen]
pub fn vocabulary() -> Vec<String> {
    hypernoise::text::vocabulary().iter().skip(1).map(|w| w.to_string()).collect()
}

#[derive(Serialize)]
struct PromptInfo {
    text: String,
    category: &'static str,
    /// "train", "val" or "eval": held-out prompts were never seen in training.
    split: Option<&'static str>,
}

/// Parses a prompt: its canonical text, task type and split; throws a readable error.
#[wasm_bindgen(js_name = describePrompt)]
pub fn describe_prompt(prompt: &str) -> Result<JsValue, JsError> {
    let spec = parse(prompt)?;
    to_js(&PromptInfo { text: spec.text(), category: spec.category().name(), split: split_of(&spec).map(|s| s.name()) })
}

/// The world's ground-truth scene for a prompt and seed (identical to `trainer render`), as a
/// picture.
#[wasm_bindgen(js_name = renderScene)]
pub fn render_scene(prompt: &str, seed: f64, resolution: usize) -> Result<JsValue, JsError> {
    if !(16..=512).contains(&resolution) {
        return Err(JsError::new("resolution must be between 16 and 512"));
    }
    to_js(&Picture::of(&render(&Scene::sample(&parse(prompt)?, seed_from_js(seed)?, resolution))))
}

/// The exact evaluator's verdict on RGBA pixels: `{correct, reason, category, detections}`.
#[wasm_bindgen]
pub fn evaluate(prompt: &str, width: usize, height: usize, rgba: &[u8]) -> Result<JsValue, JsError> {
    let img = Image::from_rgba(width, height, rgba).map_err(|e| JsError::new(&e))?;
    to_js(&verdict(prompt, &img).map_err(|e| JsError::new(&e))?)
}
