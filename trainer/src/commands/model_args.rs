//! Which generator and sampler a generating command uses.

use crate::models::{load_generator, shipped_generator};
use anyhow::Result;
use burn::prelude::Backend;
use hypernoise::generator::{Generator, GeneratorConfig, Sampler};
use std::path::PathBuf;

#[derive(clap::Args, Clone, Debug)]
pub struct ModelArgs {
    #[command(flatten)]
    pub generator: GeneratorArg,
    #[command(flatten)]
    pub sampler: SamplerArgs,
}

impl ModelArgs {
    pub fn path(&self) -> PathBuf {
        self.generator.path()
    }

    pub fn load<B: Backend>(&self, device: &B::Device) -> Result<(Generator<B>, GeneratorConfig)> {
        self.generator.load(device)
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
            anyhow::bail!("no generator ships at {} yet: train one (README, \"The generator\") and pass --weights", path.display());
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
