//! Noise hypernetworks (Eyring et al. 2025). A LoRA-adapted copy of the one-step generator g
//! learns f(z, c) so that g(z + f(z, c), c) scores higher under a reward, trained once by
//!   L = E_{z,c} [ lambda * 1/2 ||f(z, c)||^2 - r(g(z + f(z, c), c)) ]
//! (the KL from the noise prior to the reward-tilted one, up to constants). ||f||^2 is the
//! *sum* over all 3 x H x W noise elements of an image (the KL's own convention), averaged over
//! the batch; `lambda` = 1 is the paper's objective. The same adapters on every layer, with the
//! output layer adapted like the others, are the direct fine-tuning baseline g_ft(z, c).
//! The hypernetwork is that LoRA copy, a light network on the noise's low frequencies
//! ([`light`]) or a compact network of the generator's design ([`compact`]), chosen by the
//! [`Design`].
//! Adapter files hold only the trained tensors plus a fingerprint of the generator they were
//! trained on; they load on top of that generator's file.

pub mod compact;
pub mod light;
#[cfg(test)]
pub(crate) mod tests;

use crate::generator::{Adapters, Generator, GeneratorConfig, LoraConfig, Sampler};
use crate::weights::{self, WeightsError};
use burn::prelude::*;
use compact::CompactConfig;
use light::{LightConfig, LightHypernet};
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

/// What is trained beside the frozen generator. In files it is a key of the adapters' config,
/// `"lora": {...}`, `"light": {...}` or `"compact": {...}`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Design {
    /// LoRA adapters on every layer of a copy of the generator (the paper's hypernetwork, and
    /// the fine-tuning baseline).
    Lora(LoraConfig),
    /// The light network of [`light`] (noise hypernetworks only).
    Light(LightConfig),
    /// The compact network of [`compact`] (noise hypernetworks only).
    Compact(CompactConfig),
}

impl std::fmt::Display for Design {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Design::Lora(l) => {
                write!(f, "LoRA rank {} alpha {}", l.rank, l.alpha)?;
                match l.offset_resolution {
                    Some(r) => write!(f, ", f at {r}x{r}"),
                    None => Ok(()),
                }
            }
            Design::Light(l) => {
                write!(f, "light {0}x{0} frequencies, {1} wide", l.grid, l.hidden)?;
                match l.prompt {
                    light::PromptSource::Own => Ok(()),
                    light::PromptSource::Generator => f.write_str(", reading the generator's prompt"),
                }
            }
            Design::Compact(c) => write!(f, "compact, the generator's design at 1/{} of its widths", c.divisor),
        }
    }
}

impl Design {
    /// Sizes within bounds, for `role` on a generator of `generator`'s architecture.
    pub fn check(&self, role: Role, generator: &GeneratorConfig) -> Result<(), String> {
        match self {
            Design::Lora(lora) => {
                lora.check()?;
                match lora.offset_resolution {
                    Some(_) if role == Role::FineTune => Err(
                        "fine-tuning adapts the generator itself; only a noise hypernetwork has an offset resolution"
                            .into(),
                    ),
                    Some(r) => check_offset_resolution(r, generator),
                    None => Ok(()),
                }
            }
            Design::Light(_) | Design::Compact(_) if role == Role::FineTune => {
                Err("a light or compact hypernetwork only changes the noise; fine-tuning needs LoRA adapters".into())
            }
            Design::Light(light) => light.check(generator.resolution),
            Design::Compact(compact) => compact.check(generator),
        }
    }

    /// Where the noise hypernetwork computes f (None: at the noise's own resolution).
    pub fn offset_resolution(&self) -> Option<usize> {
        self.lora().and_then(|l| l.offset_resolution)
    }

    fn lora(&self) -> Option<LoraConfig> {
        match self {
            Design::Lora(lora) => Some(*lora),
            Design::Light(_) | Design::Compact(_) => None,
        }
    }
}

/// A LoRA hypernetwork's working resolution `r` for `generator`: whole blocks of its noise, and
/// a size its U-Net can halve at every level.
fn check_offset_resolution(r: usize, generator: &GeneratorConfig) -> Result<(), String> {
    let (res, halvings) = (generator.resolution, 1 << (generator.levels() - 1));
    if r == 0 || !res.is_multiple_of(r) || !r.is_multiple_of(halvings) {
        return Err(format!(
            "offset resolution {r} must divide the noise's {res} px and be a multiple of {halvings} (the U-Net's {} levels)",
            generator.levels()
        ));
    }
    Ok(())
}

/// `z` (B, C, H, W) averaged over blocks down to `resolution` a side, each mean times the
/// block's side so that it is again unit-variance noise: what a hypernetwork working at
/// `resolution` reads.
pub fn block_noise(z: Tensor<4>, resolution: usize) -> Tensor<4> {
    let [b, c, h, w] = z.dims();
    let (kh, kw) = (h / resolution, w / resolution);
    let means = z.reshape([b, c, resolution, kh, resolution, kw]).mean_dim(5).mean_dim(3);
    means.reshape([b, c, resolution, resolution]) * ((kh * kw) as f32).sqrt()
}

/// `x` (B, C, r, r) with each value repeated over a block, to `size` a side.
fn repeat_blocks(x: Tensor<4>, size: usize) -> Tensor<4> {
    let [b, c, r, _] = x.dims();
    let k = size / r;
    x.reshape([b, c, r, 1, r, 1]).expand([b, c, r, k, r, k]).reshape([b, c, size, size])
}

/// `x` (B, C, H, H) with each of its r x r blocks replaced by the block's mean: all that a
/// LoRA hypernetwork working at resolution `r` can change.
pub fn block_means(x: Tensor<4>, r: usize) -> Tensor<4> {
    let [.., h, w] = x.dims();
    repeat_blocks(block_noise(x, r) / ((h * w / (r * r)) as f32).sqrt(), h)
}

/// f(z) by a network `net` that works at `resolution` (None: on z itself): it reads the block
/// means of z and its offset is repeated over each block.
pub fn offset_at(resolution: Option<usize>, z: Tensor<4>, net: impl FnOnce(Tensor<4>) -> Tensor<4>) -> Tensor<4> {
    let size = z.dims()[2];
    match resolution {
        Some(r) if r != size => repeat_blocks(net(block_noise(z, r)), size),
        _ => net(z),
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdapterConfig {
    pub role: Role,
    #[serde(flatten)]
    pub design: Design,
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

/// The generator with one set of adapters (trainable or loaded): LoRA branches inside `model`,
/// or the light or compact hypernetwork beside it.
#[derive(Module, Debug)]
pub struct Adapted {
    pub model: Generator,
    pub light: Option<LightHypernet>,
    pub compact: Option<Generator>,
    /// Where a LoRA hypernetwork computes f ([`offset_at`]).
    pub offset_resolution: Option<usize>,
}

impl Adapted {
    /// Fresh adapters (f = 0, g_ft = g) on the generator stored in `generator_bytes`.
    pub fn fresh(
        generator_bytes: &[u8],
        role: Role,
        design: Design,
        device: &Device,
    ) -> Result<(Self, AdapterConfig), WeightsError> {
        let generator = generator_config(generator_bytes)?;
        design.check(role, &generator).map_err(WeightsError::Corrupt)?;
        let model = weights::load_part(Generator::new(&generator, design.lora(), device), generator_bytes, |p| {
            !crate::generator::layers::is_adapter_path(p)
        })?;
        let light = match design {
            Design::Light(c) => Some(LightHypernet::new(&c, &generator, device)),
            Design::Lora(_) | Design::Compact(_) => None,
        };
        let compact = match design {
            Design::Compact(c) => Some(Generator::new(&c.network(&generator), None, device)),
            Design::Lora(_) | Design::Light(_) => None,
        };
        let config = AdapterConfig { role, design, generator, generator_fingerprint: fingerprint(generator_bytes) };
        Ok((Adapted { model, light, compact, offset_resolution: design.offset_resolution() }, config))
    }

    /// Trained adapters (`adapter_bytes`) on their generator (`generator_bytes`).
    pub fn load(
        generator_bytes: &[u8],
        adapter_bytes: &[u8],
        device: &Device,
    ) -> Result<(Self, AdapterConfig), WeightsError> {
        let config: AdapterConfig = weights::config_of(adapter_bytes, KIND)?;
        // the generator file's own problems (not a generator, truncated) come first
        let (fresh, fresh_config) = Self::fresh(generator_bytes, config.role, config.design, device)?;
        trained_on(&config, &fresh_config)?;
        let loaded = match (fresh.light, fresh.compact) {
            (Some(light), _) => {
                Adapted { light: Some(weights::load_into(light, adapter_bytes)?), compact: None, ..fresh }
            }
            (_, Some(compact)) => {
                Adapted { compact: Some(weights::load_into(compact, adapter_bytes)?), light: None, ..fresh }
            }
            (None, None) => Adapted {
                model: weights::load_part(fresh.model, adapter_bytes, crate::generator::layers::is_adapter_path)?,
                light: None,
                compact: None,
                ..fresh
            },
        };
        Ok((loaded, config))
    }

    /// The adapters alone, as a weights file.
    pub fn to_bytes(&self, config: &AdapterConfig) -> Result<Vec<u8>, WeightsError> {
        match (&self.light, &self.compact) {
            (Some(light), _) => weights::save(light, KIND, config),
            (_, Some(compact)) => weights::save(compact, KIND, config),
            (None, None) => weights::save_part(&self.model, KIND, config, r"(^|\.)lora\."),
        }
    }

    /// f(z, c), the hypernetwork's change to the noise.
    pub fn offset(&self, z: Tensor<4>, tokens: Tensor<2, Int>) -> Tensor<4> {
        match (&self.light, &self.compact) {
            (Some(light), _) => light.offset(z, tokens, &self.model),
            (_, Some(compact)) => compact.noise_offset_with(z, tokens, Adapters::Off),
            (None, None) => offset_at(self.offset_resolution, z, |z| self.model.noise_offset(z, tokens)),
        }
    }

    /// The part of a noise offset `x` that these adapters can express: the light network's
    /// frequencies, its block means for LoRA adapters working at a coarser resolution, or all of
    /// it (full-resolution LoRA adapters, the compact network).
    pub fn expressible(&self, x: Tensor<4>) -> Tensor<4> {
        match (&self.light, self.offset_resolution) {
            (Some(light), _) => light.low_pass(x),
            (None, Some(r)) => block_means(x, r),
            (None, None) => x,
        }
    }

    /// z' = z + strength * f(z, c): the hypernetwork's modulated noise (strength 1 as trained).
    pub fn modulate(&self, z: Tensor<4>, tokens: Tensor<2, Int>, strength: f32) -> Tensor<4> {
        z.clone() + self.offset(z, tokens) * strength
    }

    /// Images for noise `z` and prompts: g(z + s f(z, c), c) for a hypernetwork, with g the
    /// one-step generator or k Euler steps of a flow model (`sampler`); g_ft(z, c) for
    /// fine-tuned adapters (one-step only; `strength` and `sampler` do not apply).
    pub fn generate(
        &self,
        role: Role,
        z: Tensor<4>,
        tokens: Tensor<2, Int>,
        strength: f32,
        sampler: Sampler,
    ) -> Tensor<4> {
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

/// The generator file's architecture, within bounds.
fn generator_config(generator_bytes: &[u8]) -> Result<GeneratorConfig, WeightsError> {
    let generator: GeneratorConfig =
        weights::config_of(generator_bytes, <GeneratorConfig as weights::Architecture>::KIND)?;
    generator.check().map_err(WeightsError::Corrupt)?;
    Ok(generator)
}

/// Adapters in a file described as trained on the generator `found` describes: same
/// fingerprint, and the same architecture the fingerprint stands for.
fn trained_on(config: &AdapterConfig, found: &AdapterConfig) -> Result<(), WeightsError> {
    let fingerprint = &found.generator_fingerprint;
    if fingerprint == &config.generator_fingerprint && found.generator != config.generator {
        return Err(WeightsError::Mismatch(format!(
            "these adapters describe their generator as {:?}, but it is {:?}",
            config.generator, found.generator
        )));
    }
    if fingerprint != &config.generator_fingerprint {
        return Err(WeightsError::Mismatch(format!(
            "these adapters were trained on generator {}, not on this one ({fingerprint}): load them with the generator they were trained on",
            config.generator_fingerprint
        )));
    }
    Ok(())
}

/// A trained hypernetwork that runs beside its generator (`adapter_bytes`, of the design `what`
/// names), checked against the generator in `generator_bytes` it was trained on without building
/// a second copy of that generator: `build` makes the network for the file's design, or None
/// when the file holds another design.
fn load_beside<M: Module>(
    generator_bytes: &[u8],
    adapter_bytes: &[u8],
    what: &str,
    build: impl FnOnce(&Design, &GeneratorConfig) -> Option<M>,
) -> Result<(M, AdapterConfig), WeightsError> {
    let config: AdapterConfig = weights::config_of(adapter_bytes, KIND)?;
    let generator = generator_config(generator_bytes)?;
    config.design.check(config.role, &generator).map_err(WeightsError::Corrupt)?;
    let found = AdapterConfig { generator, generator_fingerprint: fingerprint(generator_bytes), ..config.clone() };
    trained_on(&config, &found)?;
    let Some(network) = build(&config.design, &config.generator) else {
        return Err(WeightsError::Mismatch(format!("these adapters are {}, not a {what} hypernetwork", config.design)));
    };
    Ok((weights::load_into(network, adapter_bytes)?, config))
}

/// A trained light hypernetwork (`adapter_bytes`, of [`Design::Light`]) checked against the
/// generator it was trained on.
pub fn load_light(
    generator_bytes: &[u8],
    adapter_bytes: &[u8],
    device: &Device,
) -> Result<(LightHypernet, AdapterConfig), WeightsError> {
    load_beside(generator_bytes, adapter_bytes, "light", |design, generator| match design {
        Design::Light(light) => Some(LightHypernet::new(light, generator, device)),
        Design::Lora(_) | Design::Compact(_) => None,
    })
}

/// A trained compact hypernetwork (`adapter_bytes`, of [`Design::Compact`]) checked against the
/// generator it was trained on.
pub fn load_compact(
    generator_bytes: &[u8],
    adapter_bytes: &[u8],
    device: &Device,
) -> Result<(Generator, AdapterConfig), WeightsError> {
    load_beside(generator_bytes, adapter_bytes, "compact", |design, generator| match design {
        Design::Compact(compact) => Some(Generator::new(&compact.network(generator), None, device)),
        Design::Lora(_) | Design::Light(_) => None,
    })
}

/// Trained adapters prepared for inference: their layers folded into a copy of their generator
/// (`merge_adapters`), so the hypernetwork's f costs one plain network pass without the per-pass
/// work of the adapters (each convolution's low-rank kernel, each linear layer's rank-r branch),
/// and the fine-tuned generator costs exactly the base's. The folded copy runs with its adapters
/// off ([`Adapters::Off`]) and computes what [`Adapted::generate`] does up to float rounding;
/// training keeps the unfolded form, whose adapters get the gradients.
///
/// The fold runs on the CPU (burn-flex) whatever `device` then runs the copy, so every backend
/// runs the same weights, computed in exact f32 (a GPU's TF32 matmuls would round them, and
/// burn-cuda 0.21's matmul fault made them wrong: docs/gpu.md).
pub fn fold(
    generator_bytes: &[u8],
    adapter_bytes: &[u8],
    device: &Device,
) -> Result<(Generator, AdapterConfig), WeightsError> {
    let (a, config) = Adapted::load(generator_bytes, adapter_bytes, &Device::flex())?;
    let Design::Lora(lora) = config.design else {
        return Err(WeightsError::Mismatch(format!(
            "only LoRA adapters fold into the generator; these are {}",
            config.design
        )));
    };
    let folded =
        crate::generator::layers::merge_adapters(a.model, lora, config.role.adapters(), crate::generator::OUTPUT_LAYER);
    let folded_bytes = weights::save(&folded, KIND, &config)?;
    let folded = weights::load_part(Generator::new(&config.generator, Some(lora), device), &folded_bytes, |_| true)?;
    Ok((folded, config))
}

/// How far a fold's images are from exact ones, and how far the device's own unfolded passes
/// are: the mean absolute pixel difference over the probe images (pixels span [-1, 1]). The mean,
/// not the largest pixel: a GPU's TF32 rounding moves a few pixels on the edges of shapes a lot
/// (rank-8 adapters on an H100: the largest pixel 0.128 off when folded, 0.015 unfolded, on
/// images that agree elsewhere), while a wrong fold moves every pixel (burn-cuda 0.21's matmul
/// fault: 1.2 off, docs/gpu.md).
#[derive(Clone, Copy, Debug)]
pub struct FoldCheck {
    pub folded: f32,
    pub unfolded: f32,
}

impl FoldCheck {
    /// Well above TF32's rounding, and under a tenth of what adapters perturbed by noise of 0.1
    /// move the images (0.15-0.22 in `pipeline::tests`).
    pub const TOLERANCE: f32 = 0.01;

    /// The fold may round as much as the device's own unfolded passes do, twice over, since
    /// the device's precision is not the fold's fault; a wrong fold is off by far more.
    pub fn passed(&self) -> bool {
        self.folded <= Self::TOLERANCE.max(2.0 * self.unfolded)
    }
}

/// The training objective's terms for a batch: per-image 1/2 ||f||^2 (summed over elements)
/// and the reward of the resulting images, each (B). The hypernetwork's loss is
/// `lambda * reg - reward`; fine-tuning's is `-reward` (reg is zero: f is not used).
pub fn objective_terms(
    adapted: &Adapted,
    role: Role,
    sampler: Sampler,
    z: Tensor<4>,
    tokens: Tensor<2, Int>,
    reward: impl Fn(Tensor<4>, Tensor<2, Int>) -> Tensor<1>,
) -> (Tensor<1>, Tensor<1>) {
    let [b, ..] = z.dims();
    match role {
        Role::NoiseHypernetwork => {
            let f = adapted.offset(z.clone(), tokens.clone());
            let reg = half_squared_norms(f.clone());
            let x = adapted.model.generate(z + f, tokens.clone(), sampler);
            (reg, reward(x, tokens))
        }
        Role::FineTune => {
            let x = adapted.generate(role, z.clone(), tokens.clone(), 1.0, sampler);
            (Tensor::zeros([b], &z.device()), reward(x, tokens))
        }
    }
}

/// Imitation of a trained noise hypernetwork (the teacher, whose offsets f_T(z, c) for this
/// batch are `target`): per-image 1/2 ||f||^2 and 1/2 ||f - P f_T||^2, with P the projection on
/// what `adapted` can express, each (B). The mean of the second is the loss: a light network
/// learns the low frequencies of what a LoRA hypernetwork trained on the reward does, with no
/// reward of its own to overrate.
pub fn imitation_terms(
    adapted: &Adapted,
    z: Tensor<4>,
    tokens: Tensor<2, Int>,
    target: Tensor<4>,
) -> (Tensor<1>, Tensor<1>) {
    let f = adapted.offset(z, tokens);
    let gap = f.clone() - adapted.expressible(target);
    (half_squared_norms(f), half_squared_norms(gap))
}

/// Imitation of a trained noise hypernetwork through the generator: per-image 1/2 ||f||^2 and
/// 1/2 ||g(z + f(z, c), c) - x_T||^2, with `target` the teacher's images x_T = g(z + f_T(z, c), c)
/// for this batch, each (B). Unlike [`imitation_terms`] the gap is measured in the image, so a
/// part of f the generator makes nothing of costs nothing; that also leaves f free to grow
/// where the image does not show it (docs/hypernoise.md, "The coarse LoRA hypernetwork").
pub fn image_imitation_terms(
    adapted: &Adapted,
    z: Tensor<4>,
    tokens: Tensor<2, Int>,
    target: Tensor<4>,
    sampler: Sampler,
) -> (Tensor<1>, Tensor<1>) {
    let f = adapted.offset(z.clone(), tokens.clone());
    let x = adapted.model.generate(z + f.clone(), tokens, sampler);
    (half_squared_norms(f), half_squared_norms(x - target))
}

/// HyperNoise distilled into fine-tuned adapters: per-image zero (a fine-tune has no f) and
/// 1/2 ||g_ft(z, c) - x_T||^2, with `target` the hypernetwork's images x_T = g(z + f_T(z, c), c)
/// for this batch, each (B). The mean of the second is the loss: the fine-tuned generator learns
/// to draw in one pass what HyperNoise draws in two, and like imitation it has no reward of its
/// own to overrate (fine-tuning on the reward itself hacks it).
pub fn distillation_terms(
    adapted: &Adapted,
    z: Tensor<4>,
    tokens: Tensor<2, Int>,
    target: Tensor<4>,
) -> (Tensor<1>, Tensor<1>) {
    let [b, ..] = z.dims();
    let device = z.device();
    let x = adapted.generate(Role::FineTune, z, tokens, 1.0, Sampler::OneStep);
    (Tensor::zeros([b], &device), half_squared_norms(x - target))
}

/// 1/2 ||x||^2 of each item of a batch, summed over its elements: (B).
fn half_squared_norms(x: Tensor<4>) -> Tensor<1> {
    let b = x.dims()[0];
    x.reshape([b as i64, -1]).powi_scalar(2).sum_dim(1).reshape([b]) / 2.0
}

/// The batch loss from [`objective_terms`]: the mean over images of `reg_weight * reg - reward`.
pub fn batch_loss(reg: Tensor<1>, reward: Tensor<1>, reg_weight: f32) -> Tensor<1> {
    (reg * reg_weight - reward).mean()
}
