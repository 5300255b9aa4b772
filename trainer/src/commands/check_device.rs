//! `trainer check-device`: does this device compute the shipped models as the CPU does? Part by
//! part on evaluation items: the prompt encoder, the U-Net at t = 0 on the CPU's encoding, and
//! whole images, without and with each set of adapters, and the fold made on the CPU; then what
//! training computes, the gradient of each adapter file's training loss (shipped reward, one
//! training batch) with respect to its adapters. On an H100 with burn-cuda 0.21's unpatched
//! matmul kernels the adapters' unfolded images were 1.2 off the CPU's while the CPU-made fold was
//! 0.011 off (docs/gpu.md). Fails when images or gradients are off by more than float rounding
//! explains.

use crate::backend::{describe, DeviceKind, OnBackend};
use crate::models::{read, shipped, shipped_generator};
use crate::rewards::{shipped_reward, Reward};
use anyhow::{anyhow, bail, Context, Result};
use burn::module::{ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use hypernoise::generator::layers::train_adapters_only;
use hypernoise::generator::{Adapters, Sampler};
use hypernoise::hypernet::{batch_loss, objective_terms, Adapted, FoldCheck};
use hypernoise::pipeline::{Inputs, Method, Pipeline};
use hypernoise::world::split::{items, Item, Split};
use std::path::PathBuf;

/// Largest relative error (||device - CPU|| / ||CPU||) of the adapters' gradient that float
/// rounding explains: CUDA's matmuls round f32 operands to TF32 (10 mantissa bits).
const GRADIENT_TOLERANCE: f64 = 0.05;

#[derive(clap::Args)]
pub struct Args {
    /// The generator (default: the shipped one).
    #[arg(long)]
    generator: Option<PathBuf>,
    /// Adapter files to check (default: the shipped hypernetwork and fine-tune).
    #[arg(long, value_delimiter = ',')]
    adapters: Vec<PathBuf>,
    /// How many evaluation items (every 10th).
    #[arg(long, default_value_t = 16)]
    items: usize,
    /// Items in the gradient check (default: `fit`'s batch; matmuls see it as a dimension).
    #[arg(long, default_value_t = 64)]
    gradient_items: usize,
}

/// Every 10th evaluation item, `n` of them.
fn every_tenth_item(n: usize) -> Vec<Item> {
    items(Split::Eval).into_iter().step_by(10).take(n.max(1)).collect()
}

/// The adapters' gradient of `fit`'s loss (lambda 1) on `picks`, flattened in module order.
fn adapter_gradient(generator: &[u8], adapters: &[u8], picks: &[Item], device: &Device) -> Result<Vec<f32>> {
    struct Collect<'a>(&'a GradientsParams, Vec<f32>);
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.0.get::<D>(param.id) {
                self.1.extend(g.into_data().iter::<f32>());
            }
        }
    }
    let (adapted, config) = Adapted::load(generator, adapters, device).map_err(|e| anyhow!("{e}"))?;
    let model = train_adapters_only(adapted);
    let reward = Reward::parse(&shipped_reward().display().to_string(), config.generator.resolution, device)?;
    let inputs = item_inputs(picks, config.generator.resolution, device)?;
    let (reg, r) =
        objective_terms(&model, config.role, Sampler::OneStep, inputs.noise, inputs.tokens, |x, t| reward.score(x, t));
    let grads = GradientsParams::from_grads(batch_loss(reg, r, 1.0).backward(), &model);
    let mut collect = Collect(&grads, Vec::new());
    model.visit(&mut collect);
    Ok(collect.1)
}

/// The noise and tokens of evaluation items.
fn item_inputs(picks: &[Item], resolution: usize, device: &Device) -> Result<Inputs> {
    let prompts: Vec<&str> = picks.iter().map(|i| i.prompt.as_str()).collect();
    Ok(Inputs::new(&prompts, &picks.iter().map(|i| i.seed).collect::<Vec<_>>(), resolution, device)?)
}

/// ||a - b|| / ||b||.
fn relative_error(a: &[f32], b: &[f32]) -> f64 {
    let diff: f64 = a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum();
    let norm: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (diff / norm.max(f64::MIN_POSITIVE)).sqrt()
}

/// A tensor's values on another device (through the host: the CPU's values stay exact).
fn onto<const D: usize>(t: Tensor<D>, device: &Device) -> Tensor<D> {
    Tensor::from_data(t.into_data(), device)
}

impl OnBackend for Args {
    type Output = ();

    fn run(self, training_device: Device, kind: DeviceKind) -> Result<()> {
        let device = training_device.clone().inner();
        let generator = read(&self.generator.unwrap_or_else(shipped_generator))?;
        let files = if self.adapters.is_empty() {
            vec![shipped("hypernoise.safetensors"), shipped("finetune.safetensors")]
        } else {
            self.adapters
        };
        let cpu = Device::flex();
        let picks = every_tenth_item(self.items);
        let gradient_picks = every_tenth_item(self.gradient_items);
        let mut failures = Vec::new();
        println!(
            "{} against the CPU (burn-flex), {} evaluation items: largest difference | mean difference | largest CPU value",
            describe(kind),
            picks.len()
        );
        for file in files {
            let bytes = read(&file)?;
            let load = || format!("cannot load {}", file.display());
            let (here, config) = Adapted::load(&generator, &bytes, &device).with_context(load)?;
            let (exact, _) = Adapted::load(&generator, &bytes, &cpu).with_context(load)?;
            let folded = Pipeline::load(&generator, &[&bytes], &device).with_context(load)?;
            let Inputs { noise: z, tokens } = item_inputs(&picks, config.generator.resolution, &cpu)?;
            let inputs_here = item_inputs(&picks, config.generator.resolution, &device)?;
            let tokens_here = inputs_here.tokens.clone();
            let zero = Tensor::<1>::zeros([picks.len()], &cpu);
            let row = |part: &str, cpu_value: Tensor<4>, device_value: Tensor<4>| {
                let diff = (onto(device_value, &cpu) - cpu_value.clone()).abs();
                let (largest, mean) = (diff.clone().max().into_scalar::<f32>(), diff.mean().into_scalar::<f32>());
                let scale = cpu_value.abs().max().into_scalar::<f32>();
                println!("{:?} | {part} | {largest:.6} | {mean:.6} | {scale:.3}", config.role);
                // judged as `fit` and `eval` judge a fold: by the mean (see FoldCheck)
                mean as f64
            };
            let adapters = config.role.adapters();
            for a in [Adapters::Off, adapters] {
                let cond = exact.model.encode_with(tokens.clone(), a);
                let cond_here = here.model.encode_with(tokens_here.clone(), a);
                row(
                    &format!("prompt encoding, adapters {a:?}"),
                    cond.clone().unsqueeze::<4>(),
                    cond_here.unsqueeze::<4>(),
                );
                let v = exact.model.velocity_with(z.clone(), zero.clone(), cond.clone(), a);
                let v_here = here.model.velocity_with(
                    onto(z.clone(), &device),
                    onto(zero.clone(), &device),
                    onto(cond, &device),
                    a,
                );
                row(&format!("U-Net at t = 0 on the CPU's encoding, adapters {a:?}"), v, v_here);
            }
            let images = exact.generate(config.role, z.clone(), tokens.clone(), 1.0, Sampler::OneStep);
            let unfolded = row(
                "images, adapters unfolded",
                images.clone(),
                here.generate(config.role, onto(z.clone(), &device), tokens_here.clone(), 1.0, Sampler::OneStep),
            );
            let folded = row(
                "images, adapters folded on the CPU",
                images,
                folded.images(Method::of(config.role), &inputs_here, 1.0)?,
            );
            let gradient = relative_error(
                &adapter_gradient(&generator, &bytes, &gradient_picks, &training_device)?,
                &adapter_gradient(&generator, &bytes, &gradient_picks, &cpu.clone().autodiff())?,
            );
            println!(
                "{:?} | adapters' gradient of the training loss, {} items (relative error) | {gradient:.6} | - | 1",
                config.role,
                gradient_picks.len()
            );
            for (what, value, tolerance) in [
                ("unfolded images (mean)", unfolded, FoldCheck::TOLERANCE as f64),
                ("folded images (mean)", folded, FoldCheck::TOLERANCE as f64),
                ("gradient", gradient, GRADIENT_TOLERANCE),
            ] {
                if value > tolerance {
                    failures
                        .push(format!("{}: {what} {value:.4} off the CPU's (tolerance {tolerance})", file.display()));
                }
            }
        }
        if !failures.is_empty() {
            bail!("this device does not compute the models as the CPU does:\n{}", failures.join("\n"));
        }
        Ok(())
    }
}
