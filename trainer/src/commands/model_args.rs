//! Which generator, adapters and sampler a generating command uses.

use crate::models::{generate_images, load_adapters, load_generator, shipped_generator};
use anyhow::Result;
use burn::prelude::*;
use hypernoise::generator::{Generator, GeneratorConfig, Sampler};
use hypernoise::hypernet::{Adapted, Role};
use hypernoise::world::Image;
use std::path::PathBuf;

#[derive(clap::Args, Clone, Debug)]
pub struct ModelArgs {
    #[command(flatten)]
    pub generator: GeneratorArg,
    #[command(flatten)]
    pub sampler: SamplerArgs,
    /// Adapters trained on this generator (`trainer fit` / `finetune`): a noise hypernetwork
    /// gives g(z + s f(z, c)), fine-tuning adapters g_ft(z, c).
    #[arg(long)]
    pub adapters: Option<PathBuf>,
    /// s, the scale of the hypernetwork's noise offset f (1 = as trained).
    #[arg(long, default_value_t = 1.0)]
    pub strength: f32,
}

impl ModelArgs {
    pub fn path(&self) -> PathBuf {
        self.generator.path()
    }

    pub fn load<B: Backend>(&self, device: &B::Device) -> Result<(Generator<B>, GeneratorConfig)> {
        self.generator.load(device)
    }

    /// What draws the images: the generator, with the adapters when given.
    pub fn drawer<B: Backend>(&self, device: &B::Device) -> Result<Drawer<B>> {
        let sampler = self.sampler.sampler();
        Ok(match &self.adapters {
            None => {
                let (generator, config) = self.load(device)?;
                Drawer { resolution: config.resolution, sampler, model: Drawn::Generator(generator) }
            }
            Some(path) => {
                let (adapted, config) = load_adapters(&self.path(), path, device)?;
                Drawer {
                    resolution: config.generator.resolution,
                    sampler,
                    model: Drawn::Adapted { adapted, role: config.role, strength: self.strength },
                }
            }
        })
    }
}

/// A generator, or a generator with trained adapters, and how it samples.
pub struct Drawer<B: Backend> {
    pub resolution: usize,
    pub sampler: Sampler,
    model: Drawn<B>,
}

enum Drawn<B: Backend> {
    Generator(Generator<B>),
    Adapted { adapted: Adapted<B>, role: Role, strength: f32 },
}

impl<B: Backend> Drawer<B> {
    /// Images for noise `z` (B, 3, H, W) and prompt tokens.
    pub fn draw(&self, z: Tensor<B, 4>, tokens: Tensor<B, 2, Int>) -> Tensor<B, 4> {
        match &self.model {
            Drawn::Generator(g) => g.generate(z, tokens, self.sampler),
            Drawn::Adapted { adapted, role, strength } => adapted.generate(*role, z, tokens, *strength, self.sampler),
        }
    }

    /// One image per (prompt, seed), `batch` at a time ([`generate_images`]).
    pub fn images(
        &self,
        prompts: &[String],
        seeds: &[u64],
        batch: usize,
        device: &B::Device,
        done: impl FnMut(usize),
    ) -> Result<Vec<Image>> {
        generate_images(|z, tokens| self.draw(z, tokens), self.resolution, prompts, seeds, batch, device, done)
    }
}

/// Which generator weights to use.
#[derive(clap::Args, Clone, Debug)]
pub struct GeneratorArg {
    /// Generator weights; default: the shipped student (weights/generator.safetensors).
    #[arg(long)]
    pub weights: Option<PathBuf>,
}

impl GeneratorArg {
    pub fn path(&self) -> PathBuf {
        self.weights.clone().unwrap_or_else(shipped_generator)
    }

    pub fn load<B: Backend>(&self, device: &B::Device) -> Result<(Generator<B>, GeneratorConfig)> {
        let path = self.path();
        if self.weights.is_none() && !path.exists() {
            anyhow::bail!(
                "no generator ships at {} yet: train one (docs/generator.md) and pass --weights",
                path.display()
            );
        }
        load_generator(&path, device)
    }
}

#[derive(clap::Args, Clone, Debug)]
pub struct SamplerArgs {
    /// `one-step` (the distilled student) or `flow` (the teacher's guided ODE).
    #[arg(long, value_enum, default_value = "one-step")]
    pub sampler: Kind,
    /// Euler steps for `flow`.
    #[arg(long, default_value_t = 25)]
    pub steps: usize,
    /// Classifier-free guidance for `flow`.
    #[arg(long, default_value_t = 3.0)]
    pub guidance: f32,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Kind {
    OneStep,
    Flow,
}

impl SamplerArgs {
    pub fn sampler(&self) -> Sampler {
        match self.sampler {
            Kind::OneStep => Sampler::OneStep,
            Kind::Flow => Sampler::Flow { steps: self.steps, guidance: self.guidance },
        }
    }
}
