//! Which generator, adapters and sampler a generating command uses, as a pipeline.

use crate::models::{load_generator, load_pipeline, shipped_generator};
use anyhow::Result;
use burn::prelude::*;
use hypernoise::generator::{Generator, GeneratorConfig, Sampler};
use hypernoise::pipeline::{Method, Pipeline, PASSES, STRENGTHS};
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
    /// s, the scale of the hypernetwork's noise offset f (0 = the base image, 1 = as trained,
    /// at most 2).
    #[arg(long, default_value_t = 1.0, value_parser = strength)]
    pub strength: f32,
    /// How many times the hypernetwork moves the noise, each pass from where the one before
    /// left it (1 = the paper's HyperNoise; at most 4).
    #[arg(long, default_value_t = 1, value_parser = passes)]
    pub passes: usize,
}

impl ModelArgs {
    pub fn path(&self) -> PathBuf {
        self.generator.path()
    }

    /// The pipeline with the adapters when given, its sampler, and the method the arguments
    /// ask for: the base generator, or what the adapters were trained as.
    pub fn pipeline(&self, device: &Device) -> Result<(Pipeline, Method)> {
        self.generator.check_exists()?;
        let adapters: Vec<PathBuf> = self.adapters.iter().cloned().collect();
        let pipeline = load_pipeline(&self.path(), &adapters, device)?
            .with_sampler(self.sampler.sampler())
            .with_passes(self.passes)?;
        let method = *pipeline.methods().last().expect("the base at least");
        Ok((pipeline, method))
    }
}

/// A strength argument within [`STRENGTHS`].
pub fn strength(text: &str) -> Result<f32, String> {
    let s: f32 = text.parse().map_err(|e| format!("{e}"))?;
    if STRENGTHS.contains(&s) {
        Ok(s)
    } else {
        Err(format!("a number from {} to {}", STRENGTHS.start(), STRENGTHS.end()))
    }
}

/// A number of hypernetwork passes within [`PASSES`].
pub fn passes(text: &str) -> Result<usize, String> {
    match text.parse() {
        Ok(n) if PASSES.contains(&n) => Ok(n),
        _ => Err(format!("a whole number from {} to {}", PASSES.start(), PASSES.end())),
    }
}

/// How far a flow sampler's or the teacher's training times move towards the noise
/// ([`hypernoise::generator::flow::shift_time`]): 1 (evenly spaced, unshifted) to 10.
pub fn time_shift(text: &str) -> Result<f32, String> {
    let s: f32 = text.parse().map_err(|e| format!("{e}"))?;
    if (1.0..=10.0).contains(&s) {
        Ok(s)
    } else {
        Err("a number from 1 (no shift) to 10".into())
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

    pub fn load(&self, device: &Device) -> Result<(Generator, GeneratorConfig)> {
        self.check_exists()?;
        load_generator(&self.path(), device)
    }

    fn check_exists(&self) -> Result<()> {
        let path = self.path();
        if self.weights.is_none() && !path.exists() {
            anyhow::bail!(
                "no generator ships at {} yet: train one (docs/generator.md) and pass --weights",
                path.display()
            );
        }
        Ok(())
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
    /// Moves `flow`'s step times towards the noise, where the layout is decided (1: evenly spaced).
    #[arg(long, default_value_t = 1.0, value_parser = time_shift)]
    pub shift: f32,
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
            Kind::Flow => Sampler::Flow { steps: self.steps, guidance: self.guidance, shift: self.shift },
        }
    }
}
