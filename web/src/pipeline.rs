//! The models behind the page on one backend: the generator with its noise-hypernetwork
//! adapters and the learned reward, as inference copies (generation) and differentiable
//! copies (ReNO's noise gradients) sharing the same weights. Results are read back
//! asynchronously, as WebGPU requires.

use crate::clock::now_ms;
use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use hypernoise::generator::noise::seeded;
use hypernoise::generator::pixels::{data_to_images, encode_prompts, noise_tensor, tokens_tensor};
use hypernoise::generator::{Generator, GeneratorConfig};
use hypernoise::hypernet::{Merged, Role};
use hypernoise::optimize::reno::{Reno, RenoConfig};
use hypernoise::reward::RewardModel;
use hypernoise::weights::Architecture;
use hypernoise::world::Image;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

pub type Pending<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + 'a>>;

/// One image, with what the page shows beside it.
pub struct Generation {
    pub image: Image,
    /// The noise the generator received (z, or z' = z + s f(z, c)), (3, H, W).
    pub noise: Vec<f32>,
    /// s f(z, c) when the hypernetwork ran.
    pub offset: Option<Vec<f32>>,
    pub reward: f32,
    /// Prompt to pixels read back, and the reward's own pass.
    pub generate_ms: f64,
    pub reward_ms: f64,
}

/// One ReNO evaluation, as the page shows it live.
pub struct RenoProgress {
    /// 0 = the initial noise.
    pub iteration: usize,
    pub reward: f32,
    /// The best image seen so far and its reward.
    pub best: Image,
    pub best_reward: f32,
    pub done: bool,
}

/// What the page asks of the models, on whichever backend they run.
pub trait Engine {
    fn resolution(&self) -> usize;
    /// `strength`: None = the base generator; Some(s) = g(z + s f(z, c)).
    fn generate<'a>(&'a self, prompt: &'a str, seed: u64, strength: Option<f32>) -> Pending<'a, Generation>;
    fn start_reno(self: Rc<Self>, prompt: &str, seed: u64, config: RenoConfig) -> Result<Box<dyn RenoSteps>, String>;
}

pub trait RenoSteps {
    fn step(&mut self) -> Pending<'_, RenoProgress>;
}

pub struct Pipeline<B: AutodiffBackend> {
    /// The base generator and the hypernetwork, its adapters folded into a copy's weights.
    merged: Merged<B::InnerBackend>,
    reward: RewardModel<B::InnerBackend>,
    /// ReNO differentiates through these with respect to the noise only.
    generator_ad: Generator<B>,
    reward_ad: RewardModel<B>,
    resolution: usize,
    device: B::Device,
}

impl<B: AutodiffBackend> Pipeline<B> {
    pub fn load(generator: &[u8], hypernetwork: &[u8], reward: &[u8], device: &B::Device) -> Result<Self, String> {
        // the generator file's own problems first, before whether the adapters fit it
        hypernoise::weights::config_of::<GeneratorConfig>(generator, <GeneratorConfig as Architecture>::KIND)
            .map_err(|e| format!("generator: {e}"))?;
        let (merged, config) = Merged::<B::InnerBackend>::from_bytes(generator, hypernetwork, device)
            .map_err(|e| format!("hypernetwork: {e}"))?;
        if config.role != Role::NoiseHypernetwork {
            return Err("hypernetwork: these adapters are a fine-tuned generator, not a noise hypernetwork".into());
        }
        let (reward_ad, reward_config) =
            RewardModel::<B>::from_bytes(reward, device).map_err(|e| format!("reward: {e}"))?;
        if reward_config.resolution != config.generator.resolution {
            return Err(format!(
                "reward: scores {0}x{0} images, the generator makes {1}x{1}",
                reward_config.resolution, config.generator.resolution
            ));
        }
        let (generator_ad, _) = Generator::<B>::from_bytes(generator, device).map_err(|e| format!("generator: {e}"))?;
        let (generator_ad, reward_ad) = (generator_ad.no_grad(), reward_ad.no_grad());
        Ok(Pipeline {
            reward: reward_ad.valid(),
            merged,
            generator_ad,
            reward_ad,
            resolution: config.generator.resolution,
            device: device.clone(),
        })
    }

    fn tokens<C: Backend>(&self, prompt: &str, device: &C::Device) -> Result<Tensor<C, 2, Int>, String> {
        hypernoise::world::PromptSpec::parse(prompt).map_err(|e| e.to_string())?;
        Ok(tokens_tensor(&encode_prompts(&[prompt]).map_err(|e| e.to_string())?, device))
    }
}

async fn read<C: Backend, const D: usize>(t: Tensor<C, D>) -> Result<Vec<f32>, String> {
    let data = t.into_data_async().await.map_err(|e| format!("reading results back: {e:?}"))?;
    data.convert::<f32>().into_vec().map_err(|e| format!("reading results back: {e:?}"))
}

async fn read_image<C: Backend>(x: Tensor<C, 4>) -> Result<Image, String> {
    let dims = x.dims();
    Ok(data_to_images(&read(x).await?, dims).remove(0))
}

impl<B: AutodiffBackend> Engine for Pipeline<B> {
    fn resolution(&self) -> usize {
        self.resolution
    }

    fn generate<'a>(&'a self, prompt: &'a str, seed: u64, strength: Option<f32>) -> Pending<'a, Generation> {
        Box::pin(async move {
            let tokens = self.tokens::<B::InnerBackend>(prompt, &self.device)?;
            // the noise is made on the CPU, so only the modulated noise needs reading back
            let z = seeded(seed, self.resolution);
            let z_tensor = Tensor::<B::InnerBackend, 4>::from_data(
                TensorData::new(z.clone(), [1, 3, self.resolution, self.resolution]),
                &self.device,
            );
            let g = self.merged.base();
            let started = now_ms();
            let fed = match strength {
                Some(s) => self.merged.modulate(z_tensor, tokens.clone(), s),
                None => z_tensor,
            };
            let x = g.one_step(fed.clone(), g.encode(tokens.clone()));
            let image = read_image(x.clone()).await?;
            let generate_ms = now_ms() - started;
            let started = now_ms();
            let reward = read(self.reward.forward(x, tokens)).await?[0];
            let reward_ms = now_ms() - started;
            let (noise, offset) = match strength {
                Some(_) => {
                    let fed = read(fed).await?;
                    let offset = fed.iter().zip(&z).map(|(a, b)| a - b).collect();
                    (fed, Some(offset))
                }
                None => (z, None),
            };
            Ok(Generation { image, noise, offset, reward, generate_ms, reward_ms })
        })
    }

    fn start_reno(self: Rc<Self>, prompt: &str, seed: u64, config: RenoConfig) -> Result<Box<dyn RenoSteps>, String> {
        let tokens = self.tokens::<B>(prompt, &self.device)?;
        let z = noise_tensor::<B>(&[seed], self.resolution, &self.device);
        let reno = Reno::new(self.generator_ad.encode(tokens.clone()), z, &config);
        Ok(Box::new(RenoRun { pipeline: self, reno, tokens }))
    }
}

struct RenoRun<B: AutodiffBackend> {
    pipeline: Rc<Pipeline<B>>,
    reno: Reno<B>,
    tokens: Tensor<B, 2, Int>,
}

impl<B: AutodiffBackend> RenoSteps for RenoRun<B> {
    fn step(&mut self) -> Pending<'_, RenoProgress> {
        Box::pin(async move {
            if self.reno.finished() {
                return Err("this ReNO run is finished".into());
            }
            let (p, tokens) = (&self.pipeline, self.tokens.clone());
            let (x, r) = self.reno.evaluate(&p.generator_ad, |x| p.reward_ad.forward(x, tokens.clone()));
            let scores = read(r).await?;
            let reward = self.reno.record(x, &scores);
            let (best, rewards) = self.reno.best().expect("recorded above");
            let (best, best_reward) = (read_image(best.clone()).await?, rewards[0]);
            Ok(RenoProgress {
                iteration: self.reno.evaluations() - 1,
                reward,
                best,
                best_reward,
                done: self.reno.finished(),
            })
        })
    }
}
