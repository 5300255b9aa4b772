//! `trainer check-device`: does this device compute the shipped models as the CPU does? Part by
//! part on evaluation items: the prompt encoder, the U-Net at t = 0 on the CPU's encoding, and
//! whole images, without and with each set of adapters, and the fold made on the CPU. On an H100
//! (burn-cuda 0.21) the adapters' unfolded images were 1.2 off the CPU's while the CPU-made fold
//! was 0.011 off (README); this tells which part such a difference starts in.

use crate::backend::{describe, DeviceKind, OnBackend};
use crate::models::{read, shipped, shipped_generator};
use anyhow::{anyhow, Result};
use burn::backend::Flex;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use hypernoise::generator::pixels::{encode_prompts, noise_tensor, tokens_tensor};
use hypernoise::generator::{Adapters, Sampler};
use hypernoise::hypernet::{Adapted, Merged};
use hypernoise::world::split::{items, Split};
use std::path::PathBuf;

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
}

/// A tensor of backend `A` on backend `E`'s device.
fn onto<A: Backend, E: Backend, const D: usize>(t: Tensor<A, D>, device: &E::Device) -> Tensor<E, D> {
    Tensor::from_data(t.into_data(), device)
}

impl OnBackend for Args {
    type Output = ();

    fn run<AB: AutodiffBackend>(self, device: AB::Device, kind: DeviceKind) -> Result<()> {
        let generator = read(&self.generator.unwrap_or_else(shipped_generator))?;
        let files = if self.adapters.is_empty() { vec![shipped("hypernoise.safetensors"), shipped("finetune.safetensors")] } else { self.adapters };
        let cpu = Default::default();
        let picks: Vec<_> = items(Split::Eval).into_iter().step_by(10).take(self.items.max(1)).collect();
        let ids = encode_prompts(&picks.iter().map(|i| i.prompt.as_str()).collect::<Vec<_>>()).map_err(|e| anyhow!("{e}"))?;
        println!("{} against the CPU (burn-flex), {} evaluation items: largest difference | largest CPU value", describe(kind), picks.len());
        for file in files {
            let bytes = read(&file)?;
            let load = |e| anyhow!("cannot load {}: {e}", file.display());
            let (here, config) = Adapted::<AB::InnerBackend>::load(&generator, &bytes, &device).map_err(load)?;
            let (exact, _) = Adapted::<Flex>::load(&generator, &bytes, &cpu).map_err(load)?;
            let (folded, _) = Merged::<AB::InnerBackend>::from_bytes(&generator, &bytes, &device).map_err(load)?;
            let z = noise_tensor::<Flex>(&picks.iter().map(|i| i.seed).collect::<Vec<_>>(), config.generator.resolution, &cpu);
            let (tokens, tokens_here) = (tokens_tensor::<Flex>(&ids, &cpu), tokens_tensor::<AB::InnerBackend>(&ids, &device));
            let zero = Tensor::<Flex, 1>::zeros([picks.len()], &cpu);
            let row = |part: &str, cpu_value: Tensor<Flex, 4>, device_value: Tensor<AB::InnerBackend, 4>| {
                let diff = (onto::<_, Flex, 4>(device_value, &cpu) - cpu_value.clone()).abs().max().into_scalar();
                println!("{:?} | {part} | {diff:.6} | {:.3}", config.role, cpu_value.abs().max().into_scalar());
            };
            let adapters = config.role.adapters();
            for a in [Adapters::Off, adapters] {
                let cond = exact.model.encode_with(tokens.clone(), a);
                let cond_here = here.model.encode_with(tokens_here.clone(), a);
                row(&format!("prompt encoding, adapters {a:?}"), cond.clone().unsqueeze::<4>(), cond_here.unsqueeze::<4>());
                let v = exact.model.velocity_with(z.clone(), zero.clone(), cond.clone(), a);
                let v_here = here.model.velocity_with(onto(z.clone(), &device), onto(zero.clone(), &device), onto(cond, &device), a);
                row(&format!("U-Net at t = 0 on the CPU's encoding, adapters {a:?}"), v, v_here);
            }
            let images = exact.generate(config.role, z.clone(), tokens.clone(), 1.0, Sampler::OneStep);
            row("images, adapters unfolded", images.clone(), here.generate(config.role, onto(z.clone(), &device), tokens_here.clone(), 1.0, Sampler::OneStep));
            row("images, adapters folded on the CPU", images, folded.generate(onto(z, &device), tokens_here, 1.0, Sampler::OneStep));
        }
        Ok(())
    }
}
