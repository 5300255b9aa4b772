//! The wasm-bindgen API over the model crate, for the demo page and for sites that embed it.
//! Everything runs client-side; results are plain JS values (serde-wasm-bindgen). The world
//! (prompts, scenes, the exact evaluator) is here; the models are in [`model`].

mod backend;
mod clock;
pub mod model;
mod pipeline;
mod sources;

use hypernoise::eval::{detect, judge, Verdict};
use hypernoise::world::render::render;
use hypernoise::world::split::split_of;
use hypernoise::world::{Image, PromptSpec, Scene};
use serde::Serialize;
use wasm_bindgen::prelude::*;

/// RGBA pixels, as a canvas `ImageData` wants them.
#[wasm_bindgen]
pub struct Pixels {
    width: usize,
    height: usize,
    rgba: Vec<u8>,
}

#[wasm_bindgen]
impl Pixels {
    #[wasm_bindgen(getter)]
    pub fn width(&self) -> usize {
        self.width
    }
    #[wasm_bindgen(getter)]
    pub fn height(&self) -> usize {
        self.height
    }
    /// A copy of the RGBA bytes (a `Uint8Array`).
    #[wasm_bindgen(getter)]
    pub fn rgba(&self) -> Vec<u8> {
        self.rgba.clone()
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

fn verdict(prompt: &str, image: &Image) -> Result<Verdict, String> {
    Ok(judge(&PromptSpec::parse(prompt).map_err(|e| e.to_string())?, &detect(image)))
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

/// The world's ground-truth scene for a prompt and seed (identical to `trainer render`).
#[wasm_bindgen(js_name = renderScene)]
pub fn render_scene(prompt: &str, seed: f64, resolution: usize) -> Result<Pixels, JsError> {
    if !(16..=512).contains(&resolution) {
        return Err(JsError::new("resolution must be between 16 and 512"));
    }
    let img = render(&Scene::sample(&parse(prompt)?, seed_from_js(seed)?, resolution));
    Ok(Pixels { width: img.width, height: img.height, rgba: img.to_rgba() })
}

/// The exact evaluator's verdict on RGBA pixels: `{correct, reason, category, detections}`.
#[wasm_bindgen]
pub fn evaluate(prompt: &str, width: usize, height: usize, rgba: &[u8]) -> Result<JsValue, JsError> {
    let img = Image::from_rgba(width, height, rgba).map_err(|e| JsError::new(&e))?;
    to_js(&judge(&parse(prompt)?, &detect(&img)))
}
