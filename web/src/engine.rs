//! The models behind the page on one backend: the model crate's inference pipeline (the
//! generator with its noise hypernetwork folded in) and the learned reward, plus differentiable
//! copies of the generator and reward for ReNO's noise gradients. Results are read back
//! asynchronously, as WebGPU requires.

use crate::clock::now_ms;
use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use hypernoise::generator::noise::seeded;
use hypernoise::generator::pixels::data_to_images;
use hypernoise::generator::{Generator, GeneratorConfig};
use hypernoise::optimize::reno::{Reno, RenoConfig};
use hypernoise::pipeline::{Inputs, Method, Pipeline};
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

pub struct Models<B: AutodiffBackend> {
    /// The base generator and the hypernetwork, its adapters folded into a copy's weights.
    pipeline: Pipeline<B::InnerBackend>,
    reward: RewardModel<B::InnerBackend>,
    /// ReNO differentiates through these with respect to the noise only. (Boxed, as the
    /// pipeline's networks are, to keep them off WebAssembly's small stack.)
    generator_ad: Box<Generator<B>>,
    reward_ad: RewardModel<B>,
    device: B::Device,
}

impl<B: AutodiffBackend> Models<B> {
    pub fn load(generator: &[u8], hypernetwork: &[u8], reward: &[u8], device: &B::Device) -> Result<Self, String> {
        // the generator file's own problems first, before whether the adapters fit it
        hypernoise::weights::config_of::<GeneratorConfig>(generator, <GeneratorConfig as Architecture>::KIND)
            .map_err(|e| format!("generator: {e}"))?;
        let pipeline = Pipeline::<B::InnerBackend>::load(generator, &[hypernetwork], device)
            .map_err(|e| format!("hypernetwork: {e}"))?;
        if !pipeline.methods().contains(&Method::Hypernoise) {
            return Err("hypernetwork: these adapters are a fine-tuned generator, not a noise hypernetwork".into());
        }
        let (reward_ad, reward_config) =
            RewardModel::<B>::from_bytes(reward, device).map_err(|e| format!("reward: {e}"))?;
        if reward_config.resolution != pipeline.resolution() {
            return Err(format!(
                "reward: scores {0}x{0} images, the generator makes {1}x{1}",
                reward_config.resolution,
                pipeline.resolution()
            ));
        }
        let (generator_ad, _) = Generator::<B>::from_bytes(generator, device).map_err(|e| format!("generator: {e}"))?;
        let (generator_ad, reward_ad) = (Box::new(generator_ad.no_grad()), reward_ad.no_grad());
        Ok(Models { reward: reward_ad.valid(), pipeline, generator_ad, reward_ad, device: device.clone() })
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

impl<B: AutodiffBackend> Engine for Models<B> {
    fn resolution(&self) -> usize {
        self.pipeline.resolution()
    }

    fn generate<'a>(&'a self, prompt: &'a str, seed: u64, strength: Option<f32>) -> Pending<'a, Generation> {
        Box::pin(async move {
            let inputs = self.pipeline.inputs(&[prompt], &[seed]).map_err(|e| e.to_string())?;
            let tokens = inputs.tokens.clone();
            // the noise is also made on the CPU, so only the modulated noise needs reading back
            let z = seeded(seed, self.pipeline.resolution());
            let started = now_ms();
            // HyperNoise is the base generator on the modulated noise z' = z + s f(z, c)
            let fed = match strength {
                Some(s) => self.pipeline.modulate(&inputs, s).map_err(|e| e.to_string())?,
                None => inputs.noise.clone(),
            };
            let x = self
                .pipeline
                .images(Method::Base, &Inputs { noise: fed.clone(), tokens: tokens.clone() }, 1.0)
                .map_err(|e| e.to_string())?;
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
        let Inputs { noise: z, tokens } =
            Inputs::<B>::new(&[prompt], &[seed], self.pipeline.resolution(), &self.device)
                .map_err(|e| e.to_string())?;
        let reno = Reno::new(self.generator_ad.encode(tokens.clone()), z, &config);
        Ok(Box::new(RenoRun { models: self, reno, tokens }))
    }
}

struct RenoRun<B: AutodiffBackend> {
    models: Rc<Models<B>>,
    reno: Reno<B>,
    tokens: Tensor<B, 2, Int>,
}

impl<B: AutodiffBackend> RenoSteps for RenoRun<B> {
    fn step(&mut self) -> Pending<'_, RenoProgress> {
        Box::pin(async move {
            if self.reno.finished() {
                return Err("this ReNO run is finished".into());
            }
            let (p, tokens) = (&self.models, self.tokens.clone());
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
