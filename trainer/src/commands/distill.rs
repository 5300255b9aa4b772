//! `trainer distill`: the one-step student. The teacher's guided ODE maps noise z to an image
//! x(z); the student g(z) = z + v(z, 0) starts as the teacher (one Euler step: a blurry mean)
//! and regresses x(z) on fixed (z, x(z)) pairs; `--init` continues from an earlier student on
//! new pairs (another `--seed`), which adds data without paying for the old pairs again.
//! Regression on ODE pairs keeps g a deterministic function of z that inherits the teacher's
//! noise-to-layout map, which is what noise optimisation (ReNO, HyperNoise) needs; it is also
//! the cheapest distillation to run.

use super::write_finished_generator;
use crate::backend::{DeviceKind, OnBackend};
use crate::models::{load_generator, load_init};
use crate::train::data::{sample_prompt, Mix};
use crate::train::run_loop::{LoopControl, Outcome, Run, Schedule};
use crate::train::step::Local;
use anyhow::Result;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::AdamConfig;
use burn::prelude::*;
use hypernoise::generator::pixels::{encode_prompts, noise_tensor, tokens_tensor};
use hypernoise::generator::{Generator, Sampler};
use hypernoise::rng::Rng;
use serde::Serialize;
use std::path::PathBuf;

#[derive(clap::Args, Clone, Serialize)]
pub struct Args {
    /// Teacher weights (from `trainer teach`).
    #[arg(long)]
    pub teacher: PathBuf,
    /// Start from this student (same architecture) instead of the teacher.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Run folder: checkpoints, loss.csv/png, samples.png and generator.safetensors.
    #[arg(long, default_value = "runs/student")]
    pub out: PathBuf,
    /// Number of (noise, teacher image) pairs, made once per run (kept on the device).
    #[arg(long, default_value_t = 32768)]
    pub pairs: usize,
    #[arg(long, default_value_t = 25)]
    pub ode_steps: usize,
    #[arg(long, default_value_t = 3.0)]
    pub guidance: f32,
    #[arg(long, default_value_t = 4000)]
    pub steps: usize,
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    #[arg(long, default_value_t = 1e-4)]
    pub lr: f64,
    #[arg(long, default_value_t = 100)]
    pub warmup: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How often each task type's prompts are drawn for the pairs, as `teach --mix` (e.g.
    /// "position=6,color_attr=3,two_object=1,counting=2,colors=1"); default: uniform.
    #[arg(long, default_value_t)]
    pub mix: Mix,
    #[serde(skip)]
    #[arg(long, default_value_t = 512)]
    pub pair_batch: usize,
    #[serde(skip)]
    #[command(flatten)]
    pub control: LoopControl,
}

/// Noise, the teacher's images from it, and the prompts' tokens.
type Pairs = (Tensor<4>, Tensor<4>, Tensor<2, Int>);

/// The teacher's endpoints for `n` seeded noises and training prompts: (z, x, tokens).
fn make_pairs(teacher: &Generator, res: usize, a: &Args, device: &Device) -> Result<Pairs> {
    let mut rng = Rng::derive(a.seed, "pairs");
    let texts: Vec<String> = (0..a.pairs).map(|_| sample_prompt(&mut rng, &a.mix.categories).text()).collect();
    let seeds: Vec<u64> = (0..a.pairs).map(|_| rng.next_u64()).collect();
    let ids = encode_prompts(&texts).map_err(|e| anyhow::anyhow!("{e}"))?;
    let bar = crate::progress::bar(a.pairs, "teacher ODE");
    let (mut zs, mut xs, mut ts) = (vec![], vec![], vec![]);
    for (id_chunk, seed_chunk) in ids.chunks(a.pair_batch).zip(seeds.chunks(a.pair_batch)) {
        let z = noise_tensor(seed_chunk, res, device);
        let tokens = tokens_tensor(id_chunk, device);
        let x = teacher
            .generate(z.clone(), tokens.clone(), Sampler::Flow { steps: a.ode_steps, guidance: a.guidance })
            .clamp(-1.0, 1.0);
        zs.push(z);
        xs.push(x);
        ts.push(tokens);
        bar.inc(id_chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok((Tensor::cat(zs, 0), Tensor::cat(xs, 0), Tensor::cat(ts, 0)))
}

impl OnBackend for Args {
    type Output = ();

    fn run(self, device: Device, kind: DeviceKind) -> Result<()> {
        let (teacher, config) = load_generator(&self.teacher, &device)?;
        eprintln!("student: distilling {} on {}", self.teacher.display(), crate::backend::describe(kind));
        let res = config.resolution;
        // a bad --init fails before minutes of teacher pairs
        let start = match &self.init {
            Some(path) => {
                let student = load_init(path, &config, "the teacher", &device)?;
                eprintln!("starting from the student {}", path.display());
                student
            }
            None => teacher.clone(),
        };
        eprintln!("making {} teacher pairs ({} Euler steps, guidance {})", self.pairs, self.ode_steps, self.guidance);
        let (z_all, x_all, tokens_all) = make_pairs(&teacher.valid(), res, &self, &device)?;
        let spec = self
            .control
            .spec("student", Schedule { steps: self.steps, lr: self.lr, warmup: self.warmup, final_fraction: 0.05 });
        let optim = AdamConfig::new().with_grad_clipping(Some(GradientClippingConfig::Norm(1.0))).init();
        let (n, pairs, seed) = (self.batch, self.pairs, self.seed);
        let export = |m: &Generator| Ok(m.valid().to_bytes(&config)?);
        let (student, outcome) = Run { dir: &self.out, spec: &spec, settings: serde_json::to_value(&self)? }.train(
            start,
            optim,
            export,
            Local(|model: &Generator, step| {
                let mut rng = Rng::derive(seed ^ step as u64, "minibatch");
                let idx: Vec<i32> = (0..n).map(|_| rng.below(pairs) as i32).collect();
                let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [n]), &device);
                let pick4 = |t: &Tensor<4>| Tensor::<4>::from_inner(t.clone().select(0, idx.clone()));
                let tokens = Tensor::<2, Int>::from_inner(tokens_all.clone().select(0, idx.clone()));
                let x = model.one_step(pick4(&z_all), model.encode(tokens));
                (x - pick4(&x_all)).powi_scalar(2).mean()
            }),
            |_, _| Ok(()),
        )?;
        if let Outcome::Finished = outcome {
            let (file, weights) = ("generator.safetensors", export(&student)?);
            write_finished_generator(&self.out, file, weights, &student.valid(), &config, Sampler::OneStep, &device)?;
        }
        Ok(())
    }
}
