pub mod eval_images;
pub mod render;
pub mod render_set;
pub mod world;

use anyhow::{anyhow, Result};
use hypernoise::world::{render::render, Image, PromptSpec, Scene};

/// Ground truth for a prompt and seed, with the prompt's errors as they are.
pub fn ground_truth(prompt: &str, seed: u64, resolution: usize) -> Result<Image> {
    let spec = PromptSpec::parse(prompt).map_err(|e| anyhow!("{e}"))?;
    Ok(render(&Scene::sample(&spec, seed, resolution)))
}
