//! `trainer reward`: the learned prompt-faithfulness reward, trained on preference pairs (true
//! scene over hard negative, Bradley-Terry loss -log sigmoid(r+ - r-)) and scored on pairs of
//! validation prompts by the share it orders correctly, per kind of negative.

use super::teach::Preset;
use crate::backend::{describe, DeviceKind, OnBackend};
use crate::train::data::prefetch;
use crate::train::pairs::{pairs, Pairs};
use crate::train::data_parallel::backprop;
use crate::train::run_loop::{run_loop, LoopControl, Outcome, Schedule};
use anyhow::Result;
use burn::module::AutodiffModule;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::AdamConfig;
use burn::prelude::*;
use burn::tensor::activation::softplus;
use burn::tensor::backend::AutodiffBackend;
use hypernoise::generator::pixels::tokens_tensor;
use hypernoise::reward::{RewardConfig, RewardModel};
use hypernoise::weights::Architecture;
use hypernoise::world::split::Split;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

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
    /// Validation pairs scored at the end.
    #[serde(skip)]
    #[arg(long, default_value_t = 1024)]
    pub val_pairs: usize,
    #[serde(skip)]
    #[command(flatten)]
    pub control: LoopControl,
}

fn tensors<B: Backend>(p: &Pairs, res: usize, device: &B::Device) -> (Tensor<B, 4>, Tensor<B, 4>, Tensor<B, 2, Int>) {
    let n = p.tokens.len();
    let img = |v: &Vec<f32>| Tensor::<B, 4>::from_data(TensorData::new(v.clone(), [n, 3, res, res]), device);
    (img(&p.preferred), img(&p.rejected), tokens_tensor(&p.tokens, device))
}

/// Share of validation pairs ordered correctly, overall and per kind of negative.
pub fn pair_accuracy<B: Backend>(model: &RewardModel<B>, res: usize, seed: u64, n: usize, device: &B::Device) -> BTreeMap<String, f64> {
    let p = pairs(Split::Val, seed, 0, n, res);
    let (good, bad, tokens) = tensors::<B>(&p, res, device);
    let margin: Vec<f32> = (model.forward(good, tokens.clone()) - model.forward(bad, tokens)).into_data().convert::<f32>().into_vec().expect("floats");
    let mut tally: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (m, kind) in margin.iter().zip(&p.kinds) {
        for key in [format!("{kind:?}").to_lowercase(), "all".into()] {
            let e = tally.entry(key).or_default();
            e.0 += (*m > 0.0) as usize;
            e.1 += 1;
        }
    }
    tally.into_iter().map(|(k, (ok, total))| (k, ok as f64 / total as f64)).collect()
}

impl OnBackend for Args {
    type Output = ();

    fn run<B: AutodiffBackend>(self, device: B::Device, kind: DeviceKind) -> Result<()> {
        let config = match self.preset {
            Preset::Standard => RewardConfig::standard(),
            Preset::Tiny => RewardConfig::tiny(),
        };
        eprintln!("reward: {:?} preset on {}", self.preset, describe(kind));
        let res = config.resolution;
        B::seed(&device, self.seed);
        let spec = self.control.spec("reward", Schedule { steps: self.steps, lr: self.lr, warmup: self.warmup, final_fraction: 0.05 });
        let optim = AdamConfig::new().with_grad_clipping(Some(GradientClippingConfig::Norm(1.0))).init();
        let export = |m: &RewardModel<B>| Ok(m.valid().to_bytes(&config)?);
        let (n, seed, steps) = (self.batch, self.seed, self.steps);
        let mut batches = None;
        let (model, outcome) = run_loop(&self.out, &spec, serde_json::to_value(&self)?, config.init::<B>(&device), optim, &device, export, |model, step| {
            let p = batches.get_or_insert_with(|| prefetch(step, steps, move |s| pairs(Split::Train, seed, s, n, res))).next().expect("pairs per step");
            let (good, bad, tokens) = tensors::<B>(&p, res, &device);
            backprop(softplus(model.forward(bad, tokens.clone()) - model.forward(good, tokens), 1.0).mean(), model)
        }, |_, _| Ok(()))?;
        if let Outcome::Finished = outcome {
            let weights = self.out.join("reward.safetensors");
            std::fs::write(&weights, export(&model)?)?;
            let accuracy = pair_accuracy(&model.valid(), res, self.seed, self.val_pairs, &device);
            std::fs::write(self.out.join("accuracy.json"), serde_json::to_string_pretty(&accuracy)?)?;
            println!("wrote {}; validation pairs ordered correctly: {accuracy:?}", weights.display());
        }
        Ok(())
    }
}
