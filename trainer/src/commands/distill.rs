//! `trainer distill`: the one-step student. The teacher's guided ODE maps noise z to an image
//! x(z); the student g(z) = z + v(z, 0) starts as the teacher (one Euler step: a blurry mean)
//! and regresses x(z) on fixed (z, x(z)) pairs; `--init` continues from an earlier student on
//! new pairs (another `--seed`), which adds data without paying for the old pairs again.
//! Regression on ODE pairs keeps g a deterministic function of z that inherits the teacher's
//! noise-to-layout map, which is what noise optimisation (ReNO, HyperNoise) needs; it is also
//! the cheapest distillation to run. `--only-correct` keeps only the pairs whose image the exact
//! evaluator accepts for its (training) prompt, so the student learns the teacher's map where
//! the teacher is right and is free to differ where it is wrong.

use super::model_args::time_shift;
use super::write_finished_generator;
use crate::backend::{DeviceKind, OnBackend};
use crate::models::{load_generator, load_init};
use crate::train::data::{sample_prompt, Mix};
use crate::train::run_loop::{LoopControl, Outcome, Run, Schedule};
use crate::train::step::Local;
use anyhow::{anyhow, bail, Result};
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::AdamConfig;
use burn::prelude::*;
use hypernoise::eval::{detect, judge, Report};
use hypernoise::generator::pixels::{encode_prompts, noise_tensor, tensor_to_images, tokens_tensor};
use hypernoise::generator::{Generator, Sampler};
use hypernoise::rng::Rng;
use hypernoise::world::{Image, PromptSpec};
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
    /// Moves the teacher's step times towards the noise (`evaluate --shift`; 1: evenly spaced).
    #[arg(long, default_value_t = 1.0, value_parser = time_shift)]
    pub shift: f32,
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
    /// Keep only pairs whose teacher image the exact evaluator accepts for its training prompt,
    /// making more until `--pairs` are kept (at most 8 times as many).
    #[arg(long)]
    pub only_correct: bool,
    #[serde(skip)]
    #[arg(long, default_value_t = 512)]
    pub pair_batch: usize,
    #[serde(skip)]
    #[command(flatten)]
    pub control: LoopControl,
}

/// Noise, the teacher's images from it, and the prompts' tokens.
type Pairs = (Tensor<4>, Tensor<4>, Tensor<2, Int>);

/// How many pairs `--only-correct` may make per pair it keeps before giving up on the teacher.
const MAX_DRAWS_PER_KEPT: usize = 8;

/// The teacher's endpoints for seeded noises and training prompts: (z, x, tokens), `a.pairs`
/// of them; with `--only-correct`, those the exact evaluator accepts.
fn make_pairs(teacher: &Generator, res: usize, a: &Args, device: &Device) -> Result<Pairs> {
    let mut rng = Rng::derive(a.seed, "pairs");
    let bar = crate::progress::bar(a.pairs, if a.only_correct { "correct pairs" } else { "teacher ODE" });
    let (mut zs, mut xs, mut ts) = (vec![], vec![], vec![]);
    let mut judged = Report::default();
    let mut kept = 0;
    while kept < a.pairs {
        if judged.images() >= MAX_DRAWS_PER_KEPT * a.pairs {
            bail!(
                "the evaluator accepted only {kept} of the teacher's {} images; --only-correct needs a teacher \
                 that is right more often (accuracy per task type: {:?})",
                judged.images(),
                judged.scores()
            );
        }
        let n = if a.only_correct { a.pair_batch } else { a.pair_batch.min(a.pairs - kept) };
        let specs: Vec<PromptSpec> = (0..n).map(|_| sample_prompt(&mut rng, &a.mix.categories)).collect();
        let seeds: Vec<u64> = (0..n).map(|_| rng.next_u64()).collect();
        let texts: Vec<String> = specs.iter().map(PromptSpec::text).collect();
        let ids = encode_prompts(&texts).map_err(|e| anyhow!("{e}"))?;
        let z = noise_tensor(&seeds, res, device);
        let tokens = tokens_tensor(&ids, device);
        let x = teacher
            .generate(
                z.clone(),
                tokens.clone(),
                Sampler::Flow { steps: a.ode_steps, guidance: a.guidance, shift: a.shift },
            )
            .clamp(-1.0, 1.0);
        let (z, x, tokens, count) = if a.only_correct {
            let verdicts = accepted(&specs, &tensor_to_images(x.clone()));
            specs.iter().zip(&verdicts).for_each(|(spec, &ok)| judged.add(spec.category(), ok));
            let keep: Vec<i32> = (0..n as i32).filter(|&i| verdicts[i as usize]).take(a.pairs - kept).collect();
            // no zero-row tensors for the backends to concatenate
            if keep.is_empty() {
                continue;
            }
            let count = keep.len();
            let rows = Tensor::<1, Int>::from_data(TensorData::new(keep, [count]), device);
            (z.select(0, rows.clone()), x.select(0, rows.clone()), tokens.select(0, rows), count)
        } else {
            (z, x, tokens, n)
        };
        zs.push(z);
        xs.push(x);
        ts.push(tokens);
        kept += count;
        bar.set_position(kept as u64);
    }
    bar.finish_and_clear();
    if a.only_correct {
        eprintln!("kept {kept} of {} teacher images, accepted per task type: {:?}", judged.images(), judged.scores());
    }
    Ok((Tensor::cat(zs, 0), Tensor::cat(xs, 0), Tensor::cat(ts, 0)))
}

/// Whether the exact evaluator accepts each image for its prompt, judged on all cores: the
/// evaluator runs on the CPU, and a GPU teacher makes images faster than one core judges them.
fn accepted(specs: &[PromptSpec], images: &[Image]) -> Vec<bool> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_core = specs.len().div_ceil(cores).max(1);
    std::thread::scope(|s| {
        let workers: Vec<_> = specs
            .chunks(per_core)
            .zip(images.chunks(per_core))
            .map(|(specs, images)| {
                s.spawn(move || specs.iter().zip(images).map(|(p, i)| judge(p, &detect(i)).correct).collect::<Vec<_>>())
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("an evaluator thread panicked")).collect()
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use hypernoise::world::render::render;
    use hypernoise::world::scene::Scene;

    #[test]
    fn accepted_judges_each_image_against_its_own_prompt_in_order() {
        let specs: Vec<PromptSpec> = ["a red circle", "two blue squares", "a green star above a yellow triangle"]
            .iter()
            .map(|p| PromptSpec::parse(p).unwrap())
            .collect();
        let renders: Vec<Image> = specs.iter().map(|s| render(&Scene::sample(s, 3, 64))).collect();
        // enough copies that every core judges a slice, so the order across threads is checked
        let specs: Vec<PromptSpec> = specs.iter().cycle().take(30).cloned().collect();
        let right: Vec<Image> = renders.iter().cycle().take(30).cloned().collect();
        let shifted: Vec<Image> = renders.iter().cycle().skip(1).take(30).cloned().collect();
        assert_eq!(accepted(&specs, &right), vec![true; 30]);
        assert_eq!(accepted(&specs, &shifted), vec![false; 30]);
    }
}
