pub mod bench;
pub mod best_of_n;
pub mod check_device;
pub mod compare_runs;
pub mod distill;
pub mod eval;
pub mod eval_images;
pub mod evaluate;
pub mod export_reference;
pub mod export_web;
pub mod fit;
pub mod half;
pub mod model_args;
pub mod quantise;
pub mod read_prompts;
pub mod render;
pub mod render_set;
pub mod reno;
pub mod reward;
pub mod sample;
pub mod teach;
pub mod test_time;
pub mod world;

use anyhow::{anyhow, Result};
use burn::prelude::Device;
use hypernoise::pipeline::{Method, Pipeline};
use hypernoise::world::{render::render, Image, PromptSpec, Scene};
use std::path::PathBuf;

/// One image to make: which prompt, which seed, where to.
#[derive(clap::Args)]
pub struct OneImage {
    /// e.g. "a blue circle to the left of a yellow square"
    #[arg(long)]
    pub prompt: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub out: PathBuf,
}

/// Ground truth for a prompt and seed, with the prompt's errors as they are.
pub fn ground_truth(prompt: &str, seed: u64, resolution: usize) -> Result<Image> {
    let spec = PromptSpec::parse(prompt).map_err(|e| anyhow!("{e}"))?;
    Ok(render(&Scene::sample(&spec, seed, resolution)))
}

/// A finished generator run's outputs in its folder `out`: the weights file `file` (`weights`,
/// its bytes) and `samples.png`, a labelled grid of the generator's images for validation and
/// held-out prompts (seed 0 and 1 each), framed by the evaluator's verdict.
pub fn write_finished_generator(
    out: &std::path::Path,
    file: &str,
    weights: Vec<u8>,
    model: &hypernoise::generator::Generator,
    config: &hypernoise::generator::GeneratorConfig,
    sampler: hypernoise::generator::Sampler,
    device: &Device,
) -> Result<()> {
    use hypernoise::world::split::{prompts, Split};
    let (weights_path, samples) = (out.join(file), out.join("samples.png"));
    crate::files::write(&weights_path, &weights)?;
    let mut texts = Vec::new();
    for cat in hypernoise::world::Category::ALL {
        let pool = [prompts(Split::Val, cat), prompts(Split::Eval, cat)].concat();
        texts.extend(pool.iter().take(4).flat_map(|p| [p.text(), p.text()]));
    }
    let seeds: Vec<u64> = (0..texts.len() as u64).map(|i| i % 2).collect();
    let pipeline = Pipeline::from_generator(model.clone(), config.clone(), device).with_sampler(sampler);
    let images = pipeline.draw(Method::Base, 1.0, &texts, &seeds, 64, |_| {})?;
    let cells = images
        .into_iter()
        .zip(&texts)
        .map(|(image, prompt)| {
            let correct = hypernoise::eval::evaluate(prompt, &image).map(|v| v.correct).ok();
            crate::grid::Cell { image, caption: prompt.clone(), correct }
        })
        .collect::<Vec<_>>();
    crate::png_io::write(&samples, &crate::grid::compose(&cells, 8, 2))?;
    println!("wrote {} and {}", weights_path.display(), samples.display());
    Ok(())
}
