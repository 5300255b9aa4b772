//! `trainer reward`: the learned prompt-faithfulness reward, trained on preference pairs (true
//! scene over hard negative, Bradley-Terry loss -log sigmoid(r+ - r-)), optionally also on
//! the worst pair within a small L-inf ball of each (adversarial training) and on pairs of the
//! generator's own images judged by the exact evaluator, and scored on pairs of validation
//! prompts by the share it orders correctly, per kind of negative.

use crate::backend::{describe, DeviceKind, OnBackend};
use crate::models::{load_generator, read};
use crate::rewards::Reward;
use crate::train::data::prefetch;
use crate::train::judged::{JudgedPool, RenoSource};
use crate::train::pairs::{pairs, Pairs};
use crate::train::run_loop::{LoopControl, Outcome, Run, Schedule};
use crate::train::step::Local;
use anyhow::{anyhow, Result};
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::AdamConfig;
use burn::prelude::*;
use burn::tensor::activation::softplus;
use hypernoise::generator::pixels::tokens_tensor;
use hypernoise::generator::Generator;
use hypernoise::optimize::reno::RenoConfig;
use hypernoise::reward::negatives::Perturbation;
use hypernoise::reward::{RewardConfig, RewardModel};
use hypernoise::rng::Rng;
use hypernoise::weights::Architecture;
use hypernoise::world::split::Split;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, clap::ValueEnum, Serialize)]
pub enum Preset {
    Standard,
    /// Small enough for CPU tests.
    Tiny,
}

#[derive(clap::Args, Clone, Serialize)]
pub struct Args {
    /// Run folder: checkpoints, loss.csv/png, accuracy.json and reward.safetensors.
    #[arg(long, default_value = "runs/reward")]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value = "standard")]
    pub preset: Preset,
    #[arg(long, default_value_t = 2000)]
    pub steps: usize,
    /// Pairs per step.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    #[arg(long, default_value_t = 5e-4)]
    pub lr: f64,
    #[arg(long, default_value_t = 100)]
    pub warmup: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Kinds of hard negative to train on (validation scores every kind).
    #[arg(long, value_delimiter = ',', value_parser = negative_kind, default_value = "count,colour,relation,binding,shape,missing")]
    pub negatives: Vec<Perturbation>,
    /// Also train on each pair's worst case within this L-inf distance (images span [-1, 1]);
    /// 0 = off. Makes the reward hard to raise by small changes spread over the image, which
    /// is how gradient ascent on the noise (ReNO) hacks it.
    #[arg(long, default_value_t = 0.0)]
    pub adversarial_eps: f64,
    /// Signed-gradient steps that search for that worst case (PGD).
    #[arg(long, default_value_t = 3)]
    pub adversarial_steps: usize,
    /// Start from this trained reward (same preset) instead of a fresh one: e.g. adversarial
    /// training on top of a reward that already orders its pairs, where from scratch it
    /// learns nothing.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Also train on pairs of this one-step generator's own images of one training prompt: an
    /// image the exact evaluator accepts over one it rejects (train::judged), in a share of
    /// every batch's pairs (--generated-share). ReNO and the hypernetwork climb the reward on
    /// generator images, which rendered pairs never show it.
    #[arg(long)]
    pub generated: Option<PathBuf>,
    #[arg(long, default_value_t = 0.25, requires = "generated")]
    pub generated_share: f64,
    /// Training prompts drawn (with repeats) and judged for those pairs; validation draws and
    /// judges up to 256 of its own.
    #[arg(long, default_value_t = 4096, requires = "generated")]
    pub generated_prompts: usize,
    /// One-step images judged per prompt, each from its own noise.
    #[arg(long, default_value_t = 8, requires = "generated")]
    pub generated_seeds: usize,
    /// Also judge, per prompt, the image ReNO finds against this reward (`--reward` syntax),
    /// e.g. the reward being replaced: the images it overrates are where ReNO goes.
    #[arg(long, requires = "generated")]
    pub generated_reno: Option<String>,
    /// ReNO's iterations for --generated-reno (the paper's 50).
    #[arg(long, default_value_t = 50, requires = "generated_reno")]
    pub reno_iterations: usize,
    /// Validation pairs scored at the end.
    #[serde(skip)]
    #[arg(long, default_value_t = 1024)]
    pub val_pairs: usize,
    #[serde(skip)]
    #[command(flatten)]
    pub control: LoopControl,
}

fn negative_kind(name: &str) -> Result<Perturbation, String> {
    Perturbation::ALL.into_iter().find(|k| k.name() == name).ok_or_else(|| {
        let names: Vec<&str> = Perturbation::ALL.iter().map(|k| k.name()).collect();
        format!("unknown kind of negative '{name}'; kinds: {}", names.join(", "))
    })
}

fn tensors(p: &Pairs, res: usize, device: &Device) -> (Tensor<4>, Tensor<4>, Tensor<2, Int>) {
    let n = p.tokens.len();
    let img = |v: &Vec<f32>| Tensor::<4>::from_data(TensorData::new(v.clone(), [n, 3, res, res]), device);
    (img(&p.preferred), img(&p.rejected), tokens_tensor(&p.tokens, device))
}

/// `k` judged pairs (none without a pool) set before a batch's rendered pairs.
fn with_judged(
    pool: Option<&JudgedPool>,
    k: usize,
    rng: &mut Rng,
    (good, bad, tokens): (Tensor<4>, Tensor<4>, Tensor<2, Int>),
    device: &Device,
) -> (Tensor<4>, Tensor<4>, Tensor<2, Int>) {
    let Some(pool) = pool.filter(|_| k > 0) else { return (good, bad, tokens) };
    let (g, b, t) = pool.pairs(k, rng, device);
    (Tensor::cat(vec![g, good], 0), Tensor::cat(vec![b, bad], 0), Tensor::cat(vec![t, tokens], 0))
}

/// How many of a batch's `n` pairs are judged ones (at least one rendered pair stays).
fn judged_count(share: f64, n: usize) -> usize {
    ((share * n as f64).round() as usize).min(n.saturating_sub(1))
}

/// Share of validation pairs ordered correctly, overall and per kind of negative; with a pool
/// of judged validation images, a quarter of the pairs are judged ones ("judged").
fn pair_accuracy(
    model: &RewardModel,
    pool: Option<&JudgedPool>,
    res: usize,
    seed: u64,
    n: usize,
    device: &Device,
) -> BTreeMap<String, f64> {
    let k = pool.map_or(0, |_| judged_count(0.25, n));
    let p = pairs(Split::Val, &Perturbation::ALL, seed, 0, n - k, res);
    let (good, bad, tokens) =
        with_judged(pool, k, &mut Rng::derive(seed, "judged validation pairs"), tensors(&p, res, device), device);
    let margin: Vec<f32> = margin(&model.valid(), good.inner(), bad.inner(), tokens.inner())
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .expect("floats");
    let mut tally: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (i, m) in margin.iter().enumerate() {
        for key in [if i < k { "judged" } else { p.kinds[i - k].name() }, "all"] {
            let e = tally.entry(key.to_string()).or_default();
            e.0 += (*m > 0.0) as usize;
            e.1 += 1;
        }
    }
    tally.into_iter().map(|(k, (ok, total))| (k, ok as f64 / total as f64)).collect()
}

/// r(good) - r(bad) for each pair: positive where the reward orders it correctly.
fn margin(model: &RewardModel, good: Tensor<4>, bad: Tensor<4>, tokens: Tensor<2, Int>) -> Tensor<1> {
    model.forward(good, tokens.clone()) - model.forward(bad, tokens)
}

/// Bradley-Terry loss of each pair: -log sigmoid(margin).
fn pair_loss(model: &RewardModel, good: Tensor<4>, bad: Tensor<4>, tokens: Tensor<2, Int>) -> Tensor<1> {
    softplus(-margin(model, good, bad, tokens), 1.0)
}

/// The pair moved, each image within `eps` per pixel, to where the reward orders it worst:
/// `steps` of signed-gradient ascent on its loss (PGD, Madry et al. 2018). `model`'s
/// parameters must exist already (burn initialises them lazily, and a clone of an uninitialised
/// model draws its own), as they do after any forward pass.
fn worst_case(
    model: &RewardModel,
    good: Tensor<4>,
    bad: Tensor<4>,
    tokens: Tensor<2, Int>,
    eps: f64,
    steps: usize,
) -> (Tensor<4>, Tensor<4>) {
    let frozen = model.clone().no_grad();
    let stride = 2.5 * eps / steps as f64;
    let (mut d_good, mut d_bad) = (good.clone().inner().zeros_like(), bad.clone().inner().zeros_like());
    for _ in 0..steps {
        let (g, b) =
            (Tensor::from_inner(d_good.clone()).require_grad(), Tensor::from_inner(d_bad.clone()).require_grad());
        let grads =
            pair_loss(&frozen, good.clone() + g.clone(), bad.clone() + b.clone(), tokens.clone()).sum().backward();
        let ascend = |d: Tensor<4>, t: &Tensor<4>| {
            (d + t.grad(&grads).expect("image gradient").sign() * stride).clamp(-eps, eps)
        };
        d_good = ascend(d_good, &g);
        d_bad = ascend(d_bad, &b);
    }
    (good + Tensor::from_inner(d_good), bad + Tensor::from_inner(d_bad))
}

/// The generator judged for pairs (on `B`, for ReNO's gradients), and the reward ReNO climbs
/// to make harder pairs.
type Judges = (Generator, Option<Reward>);

impl Args {
    fn config(&self) -> RewardConfig {
        match self.preset {
            Preset::Standard => RewardConfig::standard(),
            Preset::Tiny => RewardConfig::tiny(),
        }
    }

    /// A fresh reward, or `--init`'s weights (of this preset).
    fn start(&self, config: &RewardConfig, device: &Device) -> Result<RewardModel> {
        let Some(path) = &self.init else { return Ok(config.init(device)) };
        let (model, init_config) = RewardModel::from_bytes(&read(path)?, device)
            .map_err(|e| anyhow!("cannot load --init {}: {e}", path.display()))?;
        anyhow::ensure!(init_config == *config, "--init {} is not a {:?}-preset reward", path.display(), self.preset);
        Ok(model)
    }

    /// `--generated`'s generator and `--generated-reno`'s reward, checked against the reward's
    /// resolution; none without `--generated`.
    fn judges(&self, res: usize, device: &Device) -> Result<Option<Judges>> {
        let Some(path) = &self.generated else { return Ok(None) };
        let (g, g_config) = load_generator(path, device)?;
        anyhow::ensure!(
            g_config.resolution == res,
            "--generated {} makes {} px images, the reward reads {res} px",
            path.display(),
            g_config.resolution
        );
        anyhow::ensure!((0.0..1.0).contains(&self.generated_share), "--generated-share must be within [0, 1)");
        anyhow::ensure!(
            self.generated_prompts > 0 && self.generated_seeds > 0,
            "--generated-prompts and --generated-seeds must be positive"
        );
        let reno_reward = self.generated_reno.as_ref().map(|spec| Reward::parse(spec, res, device)).transpose()?;
        Ok(Some((g.no_grad(), reno_reward)))
    }

    /// The judged pairs of `prompts` prompts of `split`. A resumed run judges its pool again:
    /// the same images on the same device (on a GPU, float rounding may flip a verdict, and with
    /// it the pairs drawn after).
    fn judged_pool(
        &self,
        judges: Option<&Judges>,
        (split, prompts, seed): (Split, usize, u64),
        res: usize,
        device: &Device,
    ) -> Result<Option<JudgedPool>> {
        let Some((g, reno_reward)) = judges else { return Ok(None) };
        let source = reno_reward.as_ref().map(|reward| RenoSource {
            generator: g,
            reward,
            config: RenoConfig { iterations: self.reno_iterations, ..RenoConfig::default() },
        });
        let pool =
            JudgedPool::build(&g.valid(), source.as_ref(), split, prompts, self.generated_seeds, seed, res, device)?;
        eprintln!("judged pairs: {} pool: {}", split.name(), pool.tally);
        Ok(Some(pool))
    }
}

impl OnBackend for Args {
    type Output = ();

    fn run(self, device: Device, kind: DeviceKind) -> Result<()> {
        let config = self.config();
        eprintln!("reward: {:?} preset on {}", self.preset, describe(kind));
        if self.negatives.is_empty() {
            anyhow::bail!("--negatives needs at least one kind");
        }
        let res = config.resolution;
        device.seed(self.seed);
        let spec = self
            .control
            .spec("reward", Schedule { steps: self.steps, lr: self.lr, warmup: self.warmup, final_fraction: 0.05 });
        let optim = AdamConfig::new().with_grad_clipping(Some(GradientClippingConfig::Norm(1.0))).init();
        let export = |m: &RewardModel| Ok(m.valid().to_bytes(&config)?);
        let (n, seed, steps, kinds) = (self.batch, self.seed, self.steps, self.negatives.clone());
        let (eps, pgd_steps) = (self.adversarial_eps, self.adversarial_steps);
        let start = self.start(&config, &device)?;
        let judges = self.judges(res, &device)?;
        let train_pool =
            self.judged_pool(judges.as_ref(), (Split::Train, self.generated_prompts, self.seed), res, &device)?;
        let judged = train_pool.as_ref().map_or(0, |_| judged_count(self.generated_share, n));
        let mut batches = None;
        // one step's loss: the pairs' ranking loss, and against their worst case within eps
        let step_loss = Local(|model: &RewardModel, step| {
            let p = batches
                .get_or_insert_with(|| {
                    prefetch(step, steps, {
                        let kinds = kinds.clone();
                        move |s| pairs(Split::Train, &kinds, seed, s, n - judged, res)
                    })
                })
                .next()
                .expect("pairs per step");
            let mut rng = Rng::for_step(seed, step, "judged pairs");
            let (good, bad, tokens) =
                with_judged(train_pool.as_ref(), judged, &mut rng, tensors(&p, res, &device), &device);
            let clean = pair_loss(model, good.clone(), bad.clone(), tokens.clone()).mean();
            if eps > 0.0 && pgd_steps > 0 {
                let (good, bad) = worst_case(model, good, bad, tokens.clone(), eps, pgd_steps);
                (clean + pair_loss(model, good, bad, tokens).mean()) / 2.0
            } else {
                clean
            }
        });
        let run = Run { dir: &self.out, spec: &spec, settings: serde_json::to_value(&self)? };
        let (model, outcome) = run.train(start, optim, export, step_loss, |_, _| Ok(()))?;
        if let Outcome::Finished = outcome {
            let weights = self.out.join("reward.safetensors");
            crate::files::write(&weights, &export(&model)?)?;
            let val = (Split::Val, self.generated_prompts.min(256), self.seed ^ 0x76_616c);
            let val_pool = self.judged_pool(judges.as_ref(), val, res, &device)?;
            let accuracy = pair_accuracy(&model, val_pool.as_ref(), res, self.seed, self.val_pairs, &device);
            crate::files::write(&self.out.join("accuracy.json"), serde_json::to_string_pretty(&accuracy)?.as_bytes())?;
            println!("wrote {}; validation pairs ordered correctly: {accuracy:?}", weights.display());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_case_stays_within_eps_and_orders_worse() {
        let dev = Device::flex().autodiff();
        let config = RewardConfig::tiny();
        let p = pairs(Split::Train, &Perturbation::ALL, 3, 0, 16, config.resolution);
        let (good, bad, tokens) = tensors(&p, config.resolution, &dev);
        let eps = 0.02;
        for seed in 0..8 {
            dev.seed(seed);
            let model = config.init(&dev);
            // a forward pass first, as in training: it makes the lazily initialised parameters
            let clean: f32 = pair_loss(&model, good.clone(), bad.clone(), tokens.clone()).mean().into_scalar();
            let (good2, bad2) = worst_case(&model, good.clone(), bad.clone(), tokens.clone(), eps, 3);
            for (a, b) in [(good.clone(), good2.clone()), (bad.clone(), bad2.clone())] {
                let moved: f32 = (a - b).abs().max().into_scalar();
                assert!(moved <= eps as f32 + 1e-6 && moved > 0.5 * eps as f32, "moved {moved}");
            }
            let worst: f32 = pair_loss(&model, good2, bad2, tokens.clone()).mean().into_scalar();
            assert!(worst > clean, "seed {seed}: the search made the pairs no harder: {clean} -> {worst}");
        }
    }
}
