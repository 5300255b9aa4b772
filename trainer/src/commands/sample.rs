//! `trainer sample`: one image from a prompt and a seed (the shipped student by default).

use super::model_args::ModelArgs;
use super::OneImage;
use crate::backend::{DeviceKind, OnBackend, TrainBackend};
use crate::models::{generate_images, load_adapters};
use crate::png_io;
use anyhow::{anyhow, Result};
use hypernoise::generator::pixels::{encode_prompts, noise_tensor, tensor_to_images, tokens_tensor};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    image: OneImage,
    #[command(flatten)]
    model: ModelArgs,
    /// Adapters trained on this generator (`trainer fit` / `finetune`): a noise hypernetwork
    /// gives g(z + s f(z, c)), fine-tuning adapters g_ft(z, c).
    #[arg(long)]
    adapters: Option<std::path::PathBuf>,
    /// s, the scale of the hypernetwork's noise offset f (1 = as trained).
    #[arg(long, default_value_t = 1.0)]
    strength: f32,
}

impl OnBackend for Args {
    type Output = ();

    fn run<B: TrainBackend>(self, device: B::Device, kind: DeviceKind) -> Result<()> {
        let OneImage { prompt, seed, out } = &self.image;
        hypernoise::world::PromptSpec::parse(prompt).map_err(|e| anyhow::anyhow!("{e}"))?;
        let sampler = self.model.sampler.sampler();
        let started = std::time::Instant::now();
        let images = match &self.adapters {
            None => {
                let (model, config) = self.model.load::<B::InnerBackend>(&device)?;
                generate_images(&model, config.resolution, &[prompt.clone()], &[*seed], sampler, 1, &device, |_| {})?
            }
            Some(path) => {
                let (adapted, config) = load_adapters::<B::InnerBackend>(&self.model.path(), path, &device)?;
                let ids = encode_prompts(&[prompt.as_str()]).map_err(|e| anyhow!("{e}"))?;
                let z = noise_tensor(&[*seed], config.generator.resolution, &device);
                tensor_to_images(adapted.generate(config.role, z, tokens_tensor(&ids, &device), self.strength, sampler))
            }
        };
        let ms = started.elapsed().as_secs_f64() * 1e3;
        png_io::write(out, &images[0])?;
        let verdict = hypernoise::eval::evaluate(prompt, &images[0]).map_err(|e| anyhow::anyhow!("{e}"))?;
        println!("wrote {} in {ms:.0} ms on {}; evaluator: {}", out.display(), crate::backend::describe(kind), verdict.reason);
        Ok(())
    }
}
