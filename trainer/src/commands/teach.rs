//! `trainer teach`: the flow-matching teacher on world scenes of the training compositions.

use super::model_args::time_shift;
use super::write_finished_generator;
use crate::backend::{DeviceKind, OnBackend};
use crate::models::load_init;
use crate::train::data;
use crate::train::reading::{reading_loss, Taught};
use crate::train::run_loop::{LoopControl, Outcome, Run, Schedule};
use crate::train::step::Local;
use anyhow::Result;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::AdamConfig;
use burn::prelude::*;
use hypernoise::generator::flow::velocity_loss;
use hypernoise::generator::pixels::tokens_tensor;
use hypernoise::generator::{GeneratorConfig, Sampler};
use hypernoise::weights::Architecture;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, clap::ValueEnum, Serialize)]
pub enum Preset {
    /// The token-conditioned design (attention to the prompt's tokens).
    Standard,
    /// The pooled design (one prompt vector) of `weights/generator.safetensors`.
    Pooled,
    /// A token-conditioned network small enough for CPU tests.
    Tiny,
}

impl Preset {
    pub fn config(self) -> GeneratorConfig {
        match self {
            Preset::Standard => GeneratorConfig::standard(),
            Preset::Pooled => GeneratorConfig::pooled(),
            Preset::Tiny => GeneratorConfig::tiny(),
        }
    }
}

#[derive(clap::Args, Clone, Serialize)]
pub struct Args {
    /// Run folder: checkpoints, loss.csv/png, samples.png and teacher.safetensors.
    #[arg(long, default_value = "runs/teacher")]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value = "standard")]
    pub preset: Preset,
    /// Continue from this teacher (the preset's architecture) with a fresh optimizer and schedule.
    #[arg(long)]
    pub init: Option<PathBuf>,
    #[arg(long, default_value_t = 6000)]
    pub steps: usize,
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    #[arg(long, default_value_t = 4e-4)]
    pub lr: f64,
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Fraction of prompts dropped, so the model also learns the unconditional velocity
    /// that classifier-free guidance needs.
    #[arg(long, default_value_t = 0.1)]
    pub drop_prompt: f32,
    /// How often each task type is drawn, e.g. "position=4,color_attr=3,two_object=2,counting=2,colors=1"
    /// (binding colours and places is what the teacher learns last); default: uniform.
    #[arg(long, default_value_t)]
    pub mix: data::Mix,
    /// Weight of the reading loss (train/reading.rs): the prompt transformer also learns to say
    /// which object each colour and shape word names and on which side it stands; 0: off.
    /// Token-conditioned designs only.
    #[arg(long, default_value_t = 0.0)]
    pub reading_weight: f32,
    /// Steps at the start of the run that train only the prompt transformer, on the reading
    /// loss alone, as text-to-image models start from a pretrained text encoder: the U-Net then
    /// learns from word features that already say which colour and side go with which shape.
    /// Counted in --steps. Token-conditioned designs only.
    #[arg(long, default_value_t = 0)]
    pub read_first: usize,
    /// Moves the training times towards the noise, where the layout is decided (SD3's timestep
    /// shift; 1: none); the sample grid's steps are shifted alike.
    #[arg(long, default_value_t = 1.0, value_parser = time_shift)]
    pub time_shift: f32,
    #[serde(skip)]
    #[command(flatten)]
    pub control: LoopControl,
    /// Euler steps and guidance for the sample grid written at the end.
    #[serde(skip)]
    #[arg(long, default_value_t = 25)]
    pub sample_steps: usize,
    #[serde(skip)]
    #[arg(long, default_value_t = 3.0)]
    pub guidance: f32,
}

impl OnBackend for Args {
    type Output = ();

    fn run(self, device: Device, kind: DeviceKind) -> Result<()> {
        let config = self.preset.config();
        eprintln!("teacher: {:?} preset on {}", self.preset, crate::backend::describe(kind));
        let res = config.resolution;
        let spec = self
            .control
            .spec("teacher", Schedule { steps: self.steps, lr: self.lr, warmup: self.warmup, final_fraction: 0.05 });
        device.seed(self.seed); // reproducible initial weights
        let start = match &self.init {
            Some(path) => load_init(path, &config, &format!("the {:?} preset", self.preset), &device)?,
            None => config.init(&device),
        };
        let reads = self.reading_weight > 0.0 || self.read_first > 0;
        anyhow::ensure!(
            !reads || config.attention.is_some(),
            "--reading-weight and --read-first need a token-conditioned preset: the {:?} preset has no word features to read",
            self.preset
        );
        anyhow::ensure!(
            self.read_first == 0 || self.read_first < self.steps,
            "--read-first {} leaves none of the --steps {} to the teacher's own loss",
            self.read_first,
            self.steps
        );
        anyhow::ensure!(
            self.reading_weight.is_finite() && self.reading_weight >= 0.0,
            "--reading-weight must be 0 or more, not {}",
            self.reading_weight
        );
        let start = Taught::new(start, reads.then_some(config.token_dim), &device);
        let optim = AdamConfig::new().with_grad_clipping(Some(GradientClippingConfig::Norm(1.0))).init();
        let mut batches = None;
        let (n, seed, drop, shift, steps, mix) =
            (self.batch, self.seed, self.drop_prompt, self.time_shift, self.steps, self.mix.clone());
        let (reading_weight, read_first) = (self.reading_weight, self.read_first);
        let export = |m: &Taught| Ok(m.generator.valid().to_bytes(&config)?);
        let (model, outcome) = Run { dir: &self.out, spec: &spec, settings: serde_json::to_value(&self)? }.train(
            start,
            optim,
            export,
            Local(|model: &Taught, step| {
                let b = batches
                    .get_or_insert_with(|| {
                        let mix = mix.clone();
                        data::prefetch(step, steps, move |s| data::batch(seed, s, n, res, drop, shift, &mix))
                    })
                    .next()
                    .expect("a batch per step");
                let cond = model.generator.encode(tokens_tensor(&b.tokens, &device));
                if step < read_first {
                    // the U-Net is left out of these steps: no gradient reaches it
                    let reader = model.reader.as_ref().expect("a reader when reading first");
                    return reading_loss(reader, cond, &b.reading, &device);
                }
                let x = Tensor::<4>::from_data(TensorData::new(b.images, [n, 3, res, res]), &device);
                let z = Tensor::<4>::from_data(TensorData::new(b.noise, [n, 3, res, res]), &device);
                let t = Tensor::<1>::from_data(TensorData::new(b.times, [n]), &device);
                let flow = velocity_loss(&model.generator, z, x, t, cond.clone());
                match &model.reader {
                    Some(reader) if reading_weight > 0.0 => {
                        flow + reading_loss(reader, cond, &b.reading, &device) * reading_weight
                    }
                    _ => flow,
                }
            }),
            |_, _| Ok(()),
        )?;
        if let Outcome::Finished = outcome {
            let sampler = Sampler::Flow { steps: self.sample_steps, guidance: self.guidance, shift: self.time_shift };
            let file = "teacher.safetensors";
            write_finished_generator(
                &self.out,
                file,
                export(&model)?,
                &model.generator.valid(),
                &config,
                sampler,
                &device,
            )?;
        }
        Ok(())
    }
}
