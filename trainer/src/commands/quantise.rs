//! `trainer quantise`: refits a generator so that its copy at a few bits per weight (what
//! `trainer export-web --browser-generator` ships to the browser) draws what the generator draws. Rounding
//! each row of a matrix to 2^(bits-1) - 1 levels moves every image a little, and at 4 bits the
//! moves add up to a visibly worse generator (docs/browser.md). Quantisation-aware training
//! fixes that where rounding alone cannot: the forward pass runs on the rounded weights, the
//! gradient passes straight through to the unrounded ones, and the other weights learn to make
//! up for each row's rounding. The target is the original generator's own image for fresh
//! prompts and noise each step, so no data, reward or teacher enters: only the rounding is
//! undone. The rounding is `weights::quantize`'s own, done on the file the browser would get,
//! so what is trained is exactly what ships.

use super::write_finished_generator;
use crate::backend::{DeviceKind, OnBackend};
use crate::models::{load_generator, load_init};
use crate::train::data::{sample_prompt, Mix};
use crate::train::run_loop::{LoopControl, Outcome, Run, Schedule};
use crate::train::step::Local;
use anyhow::{anyhow, Result};
use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::optim::AdamConfig;
use burn::prelude::*;
use hypernoise::generator::pixels::{encode_prompts, noise_tensor, tokens_tensor};
use hypernoise::generator::{Generator, GeneratorConfig, Sampler};
use hypernoise::rng::Rng;
use hypernoise::weights::quantize;
use serde::Serialize;
use std::path::PathBuf;

#[derive(clap::Args, Clone, Serialize)]
pub struct Args {
    /// The generator whose images its quantised copy must keep.
    #[arg(long, default_value = "weights/generator.safetensors")]
    pub generator: PathBuf,
    /// Start from these weights of the same architecture instead of the generator's: an earlier
    /// run's refit weights or its quantised copy (a copy loads as its rounded values), with a new
    /// optimizer. The target stays the generator's images.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Run folder: checkpoints, loss.csv/png, the quantised copy generator-q<bits>.safetensors
    /// (rewritten at every checkpoint, so a paused run's copy can be tried; `export-web
    /// --browser-generator` ships it), and at the end generator.safetensors, the refit weights.
    #[arg(long, default_value = "runs/quantise")]
    pub out: PathBuf,
    /// Bits per weight of the copy (the matrices; biases and norms stay f16).
    #[arg(long, default_value_t = 4, value_parser = super::export_web::bits)]
    pub bits: u32,
    #[arg(long, default_value_t = 2000)]
    pub steps: usize,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[arg(long, default_value_t = 1e-5)]
    pub lr: f64,
    #[arg(long, default_value_t = 50)]
    pub warmup: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Round the weights again every this many steps. Rounding runs on the host (a few hundred
    /// ms for the shipped generator); between roundings the forward pass uses the last rounding
    /// moved by what the weights have learnt since, which the small learning rate keeps within
    /// a fraction of a level.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub round_every: u64,
    #[serde(skip)]
    #[command(flatten)]
    pub control: LoopControl,
}

/// The flattened values of every float parameter, in visiting order, outside autodiff: a
/// detached copy of a parameter still asks for gradients, and a tracked offset reused after a
/// backward pass would reach into a graph already consumed.
struct Flatten(Vec<Tensor<1>>);

impl ModuleVisitor for Flatten {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.val().inner().flatten::<1>(0, D - 1));
    }
}

fn flattened(model: &Generator) -> Vec<Tensor<1>> {
    let mut flat = Flatten(Vec::new());
    model.visit(&mut flat);
    flat.0
}

/// Moves every weight by its rounding error as a constant: the forward pass sees the rounded
/// value and the gradient reaches the weight unchanged (the straight-through estimator).
struct ApplyOffsets<'a>(std::slice::Iter<'a, Tensor<1>>);

impl ModuleMapper for ApplyOffsets<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let offset = Tensor::from_inner(self.0.next().expect("one offset per parameter").clone());
        param.map(|w| {
            let dims = w.dims();
            w + offset.reshape(dims)
        })
    }
}

/// The rounding errors of `model`'s `bits`-bit copy, as `weights::quantize` writes it, parameter
/// by parameter in visiting order.
fn rounding_offsets(model: &Generator, config: &GeneratorConfig, bits: u32, device: &Device) -> Result<Vec<Tensor<1>>> {
    let copy = quantize(&model.valid().to_bytes(config)?, bits)?;
    let (rounded, _) = Generator::from_bytes(&copy, device).map_err(|e| anyhow!("the quantised copy: {e}"))?;
    Ok(flattened(&rounded).into_iter().zip(flattened(model)).map(|(r, w)| r - w).collect())
}

impl OnBackend for Args {
    type Output = ();

    fn run(self, device: Device, kind: DeviceKind) -> Result<()> {
        let (original, config) = load_generator(&self.generator, &device)?;
        eprintln!(
            "quantise: refitting {} for {} bits on {}",
            self.generator.display(),
            self.bits,
            crate::backend::describe(kind)
        );
        let target = original.valid();
        let start = match &self.init {
            Some(path) => load_init(path, &config, "the generator", &device)?,
            None => original,
        };
        let spec = self
            .control
            .spec("quantise", Schedule { steps: self.steps, lr: self.lr, warmup: self.warmup, final_fraction: 0.1 });
        let optim = AdamConfig::new().init();
        let export = |m: &Generator| Ok(m.valid().to_bytes(&config)?);
        let (n, seed, bits, every, res) =
            (self.batch, self.seed, self.bits, self.round_every as usize, config.resolution);
        let copy_path = self.out.join(format!("generator-q{bits}.safetensors"));
        let write_copy = |m: &Generator| -> Result<Vec<u8>> {
            let copy = quantize(&export(m)?, bits)?;
            crate::files::write(&copy_path, &copy)?;
            Ok(copy)
        };
        let mut offsets: Option<Vec<Tensor<1>>> = None;
        // a rounding that fails stops the run at the next checkpoint, which reports it
        let failure = std::cell::RefCell::new(None);
        let (refit, outcome) = Run { dir: &self.out, spec: &spec, settings: serde_json::to_value(&self)? }.train(
            start,
            optim,
            export,
            Local(|model: &Generator, step| {
                if offsets.is_none() || step % every == 0 {
                    match rounding_offsets(model, &config, bits, &device) {
                        Ok(o) => offsets = Some(o),
                        Err(e) => *failure.borrow_mut() = Some(e),
                    }
                }
                let rounded = match &offsets {
                    Some(o) => model.clone().map(&mut ApplyOffsets(o.iter())),
                    None => model.clone(),
                };
                let mut rng = Rng::derive(seed ^ step as u64, "minibatch");
                let texts: Vec<String> =
                    (0..n).map(|_| sample_prompt(&mut rng, &Mix::default().categories).text()).collect();
                let seeds: Vec<u64> = (0..n).map(|_| rng.next_u64()).collect();
                let ids = encode_prompts(&texts).expect("the world's own prompts encode");
                let (z, tokens) = (noise_tensor(&seeds, res, &device), tokens_tensor(&ids, &device));
                let wanted = target.one_step(z.clone(), target.encode(tokens.clone())).detach();
                let drawn = rounded.one_step(z, rounded.encode(tokens));
                (drawn - wanted).powi_scalar(2).mean()
            }),
            |model, _| match failure.borrow_mut().take() {
                Some(e) => Err(e),
                None => write_copy(model).map(|_| ()),
            },
        )?;
        if let Outcome::Finished = outcome {
            let copy = write_copy(&refit)?;
            let (rounded, _) = Generator::from_bytes(&copy, &device).map_err(|e| anyhow!("{e}"))?;
            println!("wrote {} ({:.2} MB)", copy_path.display(), copy.len() as f64 / 1e6);
            let weights = export(&refit)?;
            write_finished_generator(
                &self.out,
                "generator.safetensors",
                weights,
                &rounded,
                &config,
                Sampler::OneStep,
                &device,
            )?;
        }
        Ok(())
    }
}
