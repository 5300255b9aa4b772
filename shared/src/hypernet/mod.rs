//! Noise hypernetworks (Eyring et al. 2025). A LoRA-adapted copy of the one-step generator g
//! learns f(z, c) so that g(z + f(z, c), c) scores higher under a reward, trained once by
//!   L = E_{z,c} [ lambda * 1/2 ||f(z, c)||^2 - r(g(z + f(z, c), c)) ]
//! (the KL from the noise prior to the reward-tilted one, up to constants). ||f||^2 is the
//! *sum* over all 3 x H x W noise elements of an image (the KL's own convention), averaged over
//! the batch; `lambda` = 1 is the paper's objective. The same adapters on every layer, with the
//! output layer adapted like the others, are the direct fine-tuning baseline g_ft(z, c).
//! Adapter files hold only the LoRA tensors plus a fingerprint of the generator they were
//! trained on; they load on top of that generator's file.

#[cfg(test)]
pub(crate) mod tests;

use crate::generator::{Adapters, Generator, GeneratorConfig, LoraConfig, Sampler};
use crate::weights::{self, WeightsError};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// What a set of adapters does to the generator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// z -> z + f(z, c), then the frozen generator.
    NoiseHypernetwork,
    /// The generator itself, fine-tuned: g_ft(z, c).
    FineTune,
}

impl Role {
    pub fn adapters(self) -> Adapters {
        match self {
            Role::NoiseHypernetwork => Adapters::Hypernetwork,
            Role::FineTune => Adapters::FineTune,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdapterConfig {
    pub role: Role,
    pub lora: LoraConfig,
    pub generator: GeneratorConfig,
    /// FNV-1a of the generator's weights file: adapters only fit the generator they learnt on.
    pub generator_fingerprint: String,
}

pub const KIND: &str = "adapters";

/// FNV-1a (64 bit) of a file's bytes, as hex.
pub fn fingerprint(bytes: &[u8]) -> String {
    let hash = crate::rng::fnv1a(bytes);
    format!("{hash:016x}")
}

/// The generator with one set of adapters (trainable or loaded).
#[derive(Module, Debug)]
pub struct Adapted<B: Backend> {
    pub model: Generator<B>,
}

impl<B: Backend> Adapted<B> {
    /// Fresh adapters (f = 0, g_ft = g) on the generator stored in `generator_bytes`.
    pub fn fresh(
        generator_bytes: &[u8],
        role: Role,
        lora: LoraConfig,
        device: &B::Device,
    ) -> Result<(Self, AdapterConfig), WeightsError> {
        lora.check().map_err(WeightsError::Corrupt)?;
        let generator: GeneratorConfig =
            weights::config_of(generator_bytes, <GeneratorConfig as weights::Architecture>::KIND)?;
        generator.check().map_err(WeightsError::Corrupt)?;
        let model = weights::load_part(Generator::new(&generator, Some(lora), device), generator_bytes, |p| {
            !crate::generator::layers::is_adapter_path(p)
        })?;
        let config = AdapterConfig { role, lora, generator, generator_fingerprint: fingerprint(generator_bytes) };
        Ok((Adapted { model }, config))
    }

    /// Trained adapters (`adapter_bytes`) on their generator (`generator_bytes`).
    pub fn load(
        generator_bytes: &[u8],
        adapter_bytes: &[u8],
        device: &B::Device,
    ) -> Result<(Self, AdapterConfig), WeightsError> {
        let config: AdapterConfig = weights::config_of(adapter_bytes, KIND)?;
        // the generator file's own problems (not a generator, truncated) come first
        let (fresh, fresh_config) = Self::fresh(generator_bytes, config.role, config.lora, device)?;
        let found = fresh_config.generator_fingerprint;
        if found == config.generator_fingerprint && fresh_config.generator != config.generator {
            return Err(WeightsError::Mismatch(format!(
                "these adapters describe their generator as {:?}, but it is {:?}",
                config.generator, fresh_config.generator
            )));
        }
        if found != config.generator_fingerprint {
            return Err(WeightsError::Mismatch(format!(
                "these adapters were trained on generator {}, not on this one ({found}): load them with the generator they were trained on",
                config.generator_fingerprint
            )));
        }
        let model = weights::load_part(fresh.model, adapter_bytes, crate::generator::layers::is_adapter_path)?;
        Ok((Adapted { model }, config))
    }

    /// The adapters alone, as a weights file.
    pub fn to_bytes(&self, config: &AdapterConfig) -> Result<Vec<u8>, WeightsError> {
        weights::save_part(&self.model, KIND, config, r"(^|\.)lora\.")
    }

    /// z' = z + strength * f(z, c): the hypernetwork's modulated noise (strength 1 as trained).
    pub fn modulate(&self, z: Tensor<B, 4>, tokens: Tensor<B, 2, Int>, strength: f32) -> Tensor<B, 4> {
        z.clone() + self.model.noise_offset(z, tokens) * strength
    }

    /// Images for noise `z` and prompts: g(z + s f(z, c), c) for a hypernetwork, with g the
    /// one-step generator or k Euler steps of a flow model (`sampler`); g_ft(z, c) for
    /// fine-tuned adapters (one-step only; `strength` and `sampler` do not apply).
    pub fn generate(
        &self,
        role: Role,
        z: Tensor<B, 4>,
        tokens: Tensor<B, 2, Int>,
        strength: f32,
        sampler: Sampler,
    ) -> Tensor<B, 4> {
        match role {
            Role::NoiseHypernetwork => {
                let z = self.modulate(z, tokens.clone(), strength);
                self.model.generate(z, tokens, sampler)
            }
            Role::FineTune => {
                self.model.one_step_with(z, self.model.encode_with(tokens, Adapters::FineTune), Adapters::FineTune)
            }
        }
    }
}

/// Trained adapters prepared for inference: their layers folded into a copy of their generator
/// (`merge_adapters`), so the hypernetwork's f costs one plain network pass without the per-pass
/// work of the adapters (each convolution's low-rank kernel, each linear layer's rank-r branch),
/// and the fine-tuned generator costs exactly the base's. The folded copy runs with its adapters
/// off ([`Adapters::Off`]) and computes what [`Adapted::generate`] does up to float rounding;
/// training keeps the unfolded form, whose adapters get the gradients.
///
/// The fold runs on the CPU (burn-flex) whatever `device` then runs the copy, so every backend
/// runs the same weights: done on CUDA (burn 0.21, before the CUDA build patched cubek-matmul's
/// k guard; docs/gpu.md) it came out wrong, and different on every run.
pub fn fold<B: Backend>(
    generator_bytes: &[u8],
    adapter_bytes: &[u8],
    device: &B::Device,
) -> Result<(Generator<B>, AdapterConfig), WeightsError> {
    let (a, config) = Adapted::<burn_flex::Flex>::load(generator_bytes, adapter_bytes, &Default::default())?;
    let folded = crate::generator::layers::merge_adapters(
        a.model,
        config.lora,
        config.role.adapters(),
        crate::generator::OUTPUT_LAYER,
    );
    let folded_bytes = weights::save(&folded, KIND, &config)?;
    let folded =
        weights::load_part(Generator::new(&config.generator, Some(config.lora), device), &folded_bytes, |_| true)?;
    Ok((folded, config))
}

/// How far a fold's images are from exact ones (largest pixel difference; pixels span [-1, 1]),
/// and, for the record, how far the device's own unfolded passes are. On an H100 both come
/// within 0.01-0.05 of exact (TF32 rounding in burn-cuda's matmuls); before the CUDA build
/// patched cubek-matmul's k guard the unfolded passes were 1.2 off (docs/gpu.md).
#[derive(Clone, Copy, Debug)]
pub struct FoldCheck {
    pub folded: f32,
    pub unfolded: f32,
}

impl FoldCheck {
    /// Three times the worst TF32 rounding measured, far under a visibly wrong image.
    pub const TOLERANCE: f32 = 0.05;

    pub fn passed(&self) -> bool {
        self.folded <= Self::TOLERANCE
    }
}

/// The training objective's terms for a batch: per-image 1/2 ||f||^2 (summed over elements)
/// and the reward of the resulting images, each (B). The hypernetwork's loss is
/// `lambda * reg - reward`; fine-tuning's is `-reward` (reg is zero: f is not used).
pub fn objective_terms<B: Backend>(
    adapted: &Adapted<B>,
    role: Role,
    sampler: Sampler,
    z: Tensor<B, 4>,
    tokens: Tensor<B, 2, Int>,
    reward: impl Fn(Tensor<B, 4>, Tensor<B, 2, Int>) -> Tensor<B, 1>,
) -> (Tensor<B, 1>, Tensor<B, 1>) {
    let [b, ..] = z.dims();
    match role {
        Role::NoiseHypernetwork => {
            let f = adapted.model.noise_offset(z.clone(), tokens.clone());
            let reg = f.clone().reshape([b as i64, -1]).powi_scalar(2).sum_dim(1).reshape([b]) / 2.0;
            let x = adapted.model.generate(z + f, tokens.clone(), sampler);
            (reg, reward(x, tokens))
        }
        Role::FineTune => {
            let x = adapted.generate(role, z.clone(), tokens.clone(), 1.0, sampler);
            (Tensor::zeros([b], &z.device()), reward(x, tokens))
        }
    }
}

/// The batch loss from [`objective_terms`]: the mean over images of `reg_weight * reg - reward`.
pub fn batch_loss<B: Backend>(reg: Tensor<B, 1>, reward: Tensor<B, 1>, reg_weight: f32) -> Tensor<B, 1> {
    (reg * reg_weight - reward).mean()
}
