//! Prompts and seeds to images, the one way every caller makes them (the trainer's `sample`,
//! `evaluate`, `bench`, `eval`, `fit`'s validation and `check-device`, and the page):
//! items -> [`Inputs`] (seeded noise, prompt tokens) -> a [`Method`] (the base generator, the
//! noise hypernetwork at a strength, the fine-tuned generator) -> images. The weights files are
//! checked against each other once, when the [`Pipeline`] is loaded; an input or method that
//! cannot be served is an error, never a silently different image.

use crate::generator::pixels::{data_to_images, encode_prompts, noise_tensor, tokens_tensor};
use crate::generator::{Adapters, Generator, GeneratorConfig, Sampler};
use crate::hypernet::light::{LightHypernet, PromptSource};
use crate::hypernet::{fold, load_compact, load_light, offset_at, Adapted, AdapterConfig, Design, FoldCheck, Role};
use crate::text::PromptError;
use crate::weights::{self, WeightsError};
use crate::world::{Image, PromptSpec};
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// What draws an image from an item's noise and prompt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// The frozen generator: g(z, c).
    Base,
    /// The noise hypernetwork, then the frozen generator: g(z + s f(z, c), c).
    Hypernoise,
    /// The generator fine-tuned on the reward: g_ft(z, c).
    Finetune,
}

impl Method {
    /// The name in tables and file names.
    pub fn name(self) -> &'static str {
        match self {
            Method::Base => "base",
            Method::Hypernoise => "hypernoise",
            Method::Finetune => "finetune",
        }
    }

    /// The adapters the method needs, if any.
    pub fn role(self) -> Option<Role> {
        match self {
            Method::Base => None,
            Method::Hypernoise => Some(Role::NoiseHypernetwork),
            Method::Finetune => Some(Role::FineTune),
        }
    }

    /// The method a set of adapters serves.
    pub fn of(role: Role) -> Method {
        match role {
            Role::NoiseHypernetwork => Method::Hypernoise,
            Role::FineTune => Method::Finetune,
        }
    }
}

/// Strengths s of the hypernetwork's offset that are served: 0 is the base image, 1 as trained;
/// beyond 2 the offset leaves the noise distribution the generator was trained on.
pub const STRENGTHS: RangeInclusive<f32> = 0.0..=2.0;

/// How many times the hypernetwork may be applied to the noise it moved
/// ([`Pipeline::with_passes`]).
pub const PASSES: RangeInclusive<usize> = 1..=4;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Prompt(#[from] PromptError),
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error("{} needs {:?} adapters, and none were loaded", .0.name(), .0.role().expect("an adapted method"))]
    NotLoaded(Method),
    #[error("two sets of {0:?} adapters were given; pass one")]
    TwoOfOneRole(Role),
    #[error("the fine-tuned generator is a one-step generator; it has no {0:?} sampler")]
    FineTuneSampler(Sampler),
    #[error("strength must be a number from {lo} to {hi}, got {0}", lo = STRENGTHS.start(), hi = STRENGTHS.end())]
    Strength(f32),
    #[error("the hypernetwork's passes must be a whole number from {lo} to {hi}, got {0}", lo = PASSES.start(), hi = PASSES.end())]
    Passes(usize),
    #[error("{0} prompts and {1} seeds: one seed per prompt")]
    Unpaired(usize, usize),
    #[error("the {0} produced non-finite pixels (NaN or infinity): its weights or inputs are broken")]
    NotFinite(&'static str),
}

/// A batch's inputs: one noise image per seed (B, 3, H, W) and one prompt's tokens per item.
#[derive(Clone, Debug)]
pub struct Inputs {
    pub noise: Tensor<4>,
    pub tokens: Tensor<2, Int>,
}

impl Inputs {
    /// Checks that every prompt is a sentence of the scene world (not only known words: the
    /// generator never saw anything else) and pairs it with its seed's noise.
    pub fn new<S: AsRef<str>>(
        prompts: &[S],
        seeds: &[u64],
        resolution: usize,
        device: &Device,
    ) -> Result<Self, PipelineError> {
        if prompts.len() != seeds.len() {
            return Err(PipelineError::Unpaired(prompts.len(), seeds.len()));
        }
        for prompt in prompts {
            PromptSpec::parse(prompt.as_ref())?;
        }
        Ok(Inputs {
            noise: noise_tensor(seeds, resolution, device),
            tokens: tokens_tensor(&encode_prompts(prompts)?, device),
        })
    }

    /// The `n` items from item `start` on (views of these tensors, no copy).
    pub fn items(&self, start: usize, n: usize) -> Self {
        Inputs { noise: self.noise.clone().narrow(0, start, n), tokens: self.tokens.clone().narrow(0, start, n) }
    }
}

/// The noise hypernetwork as inference runs it.
#[derive(Clone)]
#[allow(clippy::large_enum_variant, reason = "one per pipeline, boxed there")]
pub enum NoiseMap {
    /// LoRA adapters folded into a copy of the generator: one plain network pass, at the
    /// hypernetwork's offset resolution ([`crate::hypernet::offset_at`]; None: the noise's own).
    Folded(Generator, Option<usize>),
    /// The light hypernetwork on the noise's low frequencies.
    Light(LightHypernet),
    /// The compact hypernetwork: the generator's design at a fraction of its widths.
    Compact(Generator),
}

impl NoiseMap {
    /// f(z, c), beside the frozen generator `base` it was trained on.
    pub fn offset(&self, z: Tensor<4>, tokens: Tensor<2, Int>, base: &Generator) -> Tensor<4> {
        match self {
            NoiseMap::Folded(g, resolution) => {
                offset_at(*resolution, z, |z| g.noise_offset_with(z, tokens, Adapters::Off))
            }
            NoiseMap::Light(light) => light.offset(z, tokens, base),
            NoiseMap::Compact(g) => g.noise_offset_with(z, tokens, Adapters::Off),
        }
    }

    /// z moved `passes` times by s f, each pass from where the one before left it:
    /// z_{k+1} = z_k + s f(z_k, c) ([`Pipeline::with_passes`]).
    pub fn moved(
        &self,
        z: Tensor<4>,
        tokens: Tensor<2, Int>,
        base: &Generator,
        passes: usize,
        strength: f32,
    ) -> Tensor<4> {
        (0..passes).fold(z, |z, _| z.clone() + self.offset(z, tokens.clone(), base) * strength)
    }

    /// The same map as a constant: no gradient reaches its weights (a teacher to imitate).
    pub fn no_grad(self) -> Self {
        match self {
            NoiseMap::Folded(g, resolution) => NoiseMap::Folded(g.no_grad(), resolution),
            NoiseMap::Light(light) => NoiseMap::Light(light.no_grad()),
            NoiseMap::Compact(g) => NoiseMap::Compact(g.no_grad()),
        }
    }

    /// What computes f, in words.
    pub fn describe(&self) -> String {
        match self {
            NoiseMap::Folded(_, None) => "LoRA copy of the generator (one more generator pass)".into(),
            NoiseMap::Folded(_, Some(r)) => {
                format!("LoRA copy of the generator, run on the noise's {r}x{r} block means (a fraction of a generator pass)")
            }
            NoiseMap::Light(l) => {
                let reads = match l.prompt_source() {
                    PromptSource::Own => "its own prompt encoder",
                    PromptSource::Generator => "the generator's encoded prompt",
                };
                format!(
                    "light network on the noise's lowest {0}x{0} frequencies (a small MLP reading {reads})",
                    l.grid()
                )
            }
            NoiseMap::Compact(_) => {
                "compact network of the generator's design at a fraction of its widths (a fraction of a generator pass)"
                    .into()
            }
        }
    }

    /// The noise hypernetwork in `adapters` (either design) on the generator in `generator`.
    pub fn load(generator: &[u8], adapters: &[u8], device: &Device) -> Result<Self, WeightsError> {
        Ok(match adapter_config(adapters)?.design {
            Design::Lora(lora) => NoiseMap::Folded(fold(generator, adapters, device)?.0, lora.offset_resolution),
            Design::Light(_) => NoiseMap::Light(load_light(generator, adapters, device)?.0),
            Design::Compact(_) => NoiseMap::Compact(load_compact(generator, adapters, device)?.0),
        })
    }
}

/// The base generator and, when loaded, adapters folded into copies of it (one plain network
/// pass each, the cost the browser and the table measure) or the light hypernetwork, with the
/// sampler they run. The networks are boxed: a generator's parameter handles take tens of kB,
/// and moved by value through a few frames they overflowed WebAssembly's 1 MB stack on WebGPU.
#[derive(Clone)]
pub struct Pipeline {
    base: Box<Generator>,
    device: Device,
    config: GeneratorConfig,
    hypernetwork: Option<Box<NoiseMap>>,
    finetuned: Option<Box<Generator>>,
    sampler: Sampler,
    /// [`Pipeline::with_passes`]
    passes: usize,
}

impl Pipeline {
    /// The generator in `generator` with each of `adapters` (at most one per role) folded in.
    /// The generator's own problems are reported first, then whether each set of adapters was
    /// trained on it.
    pub fn load(generator: &[u8], adapters: &[&[u8]], device: &Device) -> Result<Self, PipelineError> {
        let (base, config) = Generator::from_bytes(generator, device)?;
        let mut pipeline = Pipeline::from_generator(base, config, device);
        for bytes in adapters {
            pipeline.add(generator, bytes)?;
        }
        Ok(pipeline)
    }

    /// Adds the adapters in `adapters`, trained on the generator in `generator` (this pipeline's).
    pub fn add(&mut self, generator: &[u8], adapters: &[u8]) -> Result<Method, PipelineError> {
        let role = adapter_config(adapters)?.role;
        let method = Method::of(role);
        if self.methods().contains(&method) {
            return Err(PipelineError::TwoOfOneRole(role));
        }
        match role {
            Role::NoiseHypernetwork => {
                self.hypernetwork = Some(Box::new(NoiseMap::load(generator, adapters, &self.device)?));
            }
            Role::FineTune => self.finetuned = Some(Box::new(fold(generator, adapters, &self.device)?.0)),
        }
        Ok(method)
    }

    /// A generator already in memory (just trained), without adapters.
    pub fn from_generator(base: Generator, config: GeneratorConfig, device: &Device) -> Self {
        let device = device.clone();
        let base = Box::new(base);
        Pipeline { base, device, config, hypernetwork: None, finetuned: None, sampler: Sampler::OneStep, passes: 1 }
    }

    /// Applies the hypernetwork `passes` times, each to the noise the one before moved:
    /// z_{k+1} = z_k + s f(z_k, c). One pass is the paper's HyperNoise. The coarse
    /// hypernetwork's regulariser holds its offset short of where its gain is, and a second
    /// pass at a smaller strength goes further along it than one larger step
    /// (docs/hypernoise.md, "Two passes").
    pub fn with_passes(mut self, passes: usize) -> Result<Self, PipelineError> {
        if !PASSES.contains(&passes) {
            return Err(PipelineError::Passes(passes));
        }
        self.passes = passes;
        Ok(self)
    }

    /// Draws with `sampler` (the teacher's guided flow) instead of one step.
    pub fn with_sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = sampler;
        self
    }

    pub fn sampler(&self) -> Sampler {
        self.sampler
    }

    pub fn passes(&self) -> usize {
        self.passes
    }

    pub fn resolution(&self) -> usize {
        self.config.resolution
    }

    /// The frozen generator (what ReNO and best-of-N search the noise of).
    pub fn generator(&self) -> &Generator {
        &self.base
    }

    /// Generator-sized network evaluations per image of `method`: the sampler's, and one more
    /// for a LoRA hypernetwork's f at the noise's resolution (the light one, and a LoRA one at a
    /// coarser resolution, cost a fraction of one).
    pub fn nfe(&self, method: Method) -> usize {
        let folded_f =
            matches!((method, self.hypernetwork.as_deref()), (Method::Hypernoise, Some(NoiseMap::Folded(_, None))));
        self.sampler.nfe() + usize::from(folded_f) * self.passes
    }

    /// The noise hypernetwork, if loaded.
    pub fn hypernetwork(&self) -> Option<&NoiseMap> {
        self.hypernetwork.as_deref()
    }

    /// The methods the loaded files serve, base first.
    pub fn methods(&self) -> Vec<Method> {
        let mut methods = vec![Method::Base];
        methods.extend(self.hypernetwork.as_ref().map(|_| Method::Hypernoise));
        methods.extend(self.finetuned.as_ref().map(|_| Method::Finetune));
        methods
    }

    /// The inputs of (prompt, seed) items at this generator's resolution.
    pub fn inputs<S: AsRef<str>>(&self, prompts: &[S], seeds: &[u64]) -> Result<Inputs, PipelineError> {
        Inputs::new(prompts, seeds, self.resolution(), &self.device)
    }

    /// z' = z + s f(z, c), the noise the generator receives under HyperNoise (applied again to
    /// z' for each further pass, [`Pipeline::with_passes`]).
    pub fn modulate(&self, inputs: &Inputs, strength: f32) -> Result<Tensor<4>, PipelineError> {
        self.modulate_in(self.passes, inputs, strength)
    }

    fn modulate_in(&self, passes: usize, inputs: &Inputs, strength: f32) -> Result<Tensor<4>, PipelineError> {
        if !STRENGTHS.contains(&strength) {
            return Err(PipelineError::Strength(strength));
        }
        let f = self.hypernetwork.as_ref().ok_or(PipelineError::NotLoaded(Method::Hypernoise))?;
        Ok(f.moved(inputs.noise.clone(), inputs.tokens.clone(), &self.base, passes, strength))
    }

    /// The images of `method` for `inputs`, in [-1, 1] (unclamped); `strength` scales the
    /// hypernetwork's offset and is ignored by the other methods.
    pub fn images(&self, method: Method, inputs: &Inputs, strength: f32) -> Result<Tensor<4>, PipelineError> {
        self.images_with(self.sampler, self.passes, method, inputs, strength)
    }

    fn images_with(
        &self,
        sampler: Sampler,
        passes: usize,
        method: Method,
        inputs: &Inputs,
        strength: f32,
    ) -> Result<Tensor<4>, PipelineError> {
        let tokens = inputs.tokens.clone();
        Ok(match method {
            Method::Base => self.base.generate(inputs.noise.clone(), tokens, sampler),
            Method::Hypernoise => self.base.generate(self.modulate_in(passes, inputs, strength)?, tokens, sampler),
            Method::Finetune => {
                let g = self.finetuned.as_ref().ok_or(PipelineError::NotLoaded(Method::Finetune))?;
                if sampler != Sampler::OneStep {
                    return Err(PipelineError::FineTuneSampler(sampler));
                }
                g.one_step(inputs.noise.clone(), g.encode(tokens))
            }
        })
    }

    /// One image per (prompt, seed), `batch` items at a time, calling `done(n)` after each
    /// batch; non-finite pixels are an error (a NaN would otherwise be a black image).
    pub fn draw<S: AsRef<str>>(
        &self,
        method: Method,
        strength: f32,
        prompts: &[S],
        seeds: &[u64],
        batch: usize,
        mut done: impl FnMut(usize),
    ) -> Result<Vec<Image>, PipelineError> {
        if prompts.len() != seeds.len() {
            return Err(PipelineError::Unpaired(prompts.len(), seeds.len()));
        }
        let mut out = Vec::with_capacity(prompts.len());
        for (prompts, seeds) in prompts.chunks(batch.max(1)).zip(seeds.chunks(batch.max(1))) {
            let x = self.images(method, &self.inputs(prompts, seeds)?, strength)?;
            out.extend(finite_images(x, method)?);
            done(prompts.len());
        }
        Ok(out)
    }

    /// How far `method`'s folded images are from the same adapters run unfolded: on this
    /// device (`unfolded`) and exactly, on `exact_device` (the CPU's plain f32). A wrong fold would
    /// make every later image and number silently wrong; see [`FoldCheck`].
    pub fn check_fold(
        &self,
        method: Method,
        unfolded: &Adapted,
        exact: &Adapted,
        exact_device: &Device,
        inputs: &Inputs,
    ) -> Result<FoldCheck, PipelineError> {
        let role = method.role().ok_or(PipelineError::NotLoaded(method))?;
        let there = |x: Tensor<4>| Tensor::<4>::from_data(x.into_data(), exact_device);
        let tokens = Tensor::<2, Int>::from_data(inputs.tokens.to_data(), exact_device);
        let reference = exact.generate(role, there(inputs.noise.clone()), tokens, 1.0, Sampler::OneStep);
        let off = |x: Tensor<4>| (there(x) - reference.clone()).abs().mean().into_scalar::<f32>();
        Ok(FoldCheck {
            unfolded: off(unfolded.generate(role, inputs.noise.clone(), inputs.tokens.clone(), 1.0, Sampler::OneStep)),
            folded: off(self.images_with(Sampler::OneStep, 1, method, inputs, 1.0)?),
        })
    }
}

/// 8-bit images from a batch of pixels, once every value is finite.
pub fn finite_images(x: Tensor<4>, method: Method) -> Result<Vec<Image>, PipelineError> {
    let dims = x.dims();
    let data = x.into_data().convert::<f32>().try_into_vec::<f32>().expect("float pixels");
    if data.iter().any(|v| !v.is_finite()) {
        return Err(PipelineError::NotFinite(method.name()));
    }
    Ok(data_to_images(&data, dims))
}

/// The adapters' configuration in `bytes`, checked as [`Pipeline::load`] would (for callers that
/// need the role or fingerprint before loading).
pub fn adapter_config(bytes: &[u8]) -> Result<AdapterConfig, WeightsError> {
    weights::config_of(bytes, crate::hypernet::KIND)
}

#[cfg(test)]
mod tests;
