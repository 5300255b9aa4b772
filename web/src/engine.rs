//! The models behind the page on one backend: the model crate's inference pipeline (the
//! generator, and its noise hypernetwork once added), the learned reward once added, and
//! differentiable copies of the generator and reward for ReNO's noise gradients, made when ReNO
//! first runs. Only the generator is needed for the first image; the other parts are added when
//! something first needs them (`model.rs`), so a visitor's first image waits for one download.
//! Results are read back asynchronously, as WebGPU requires.

use crate::clock::now_ms;
use burn::prelude::*;
use hypernoise::generator::noise::seeded;
use hypernoise::generator::pixels::{data_to_images, images_to_tensor};
use hypernoise::generator::Generator;
use hypernoise::optimize::reno::{Reno, RenoConfig};
use hypernoise::pipeline::{Inputs, Method, Pipeline};
use hypernoise::reward::RewardModel;
use hypernoise::world::Image;
use std::cell::{OnceCell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

pub type Pending<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + 'a>>;

/// A model the page adds after the generator, when first needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Hypernetwork,
    Reward,
}

impl Part {
    pub fn name(self) -> &'static str {
        match self {
            Part::Hypernetwork => "hypernetwork",
            Part::Reward => "reward",
        }
    }
}

/// One image, with what the page shows beside it.
pub struct Generation {
    pub image: Image,
    /// The noise the generator received (z, or z' = z + s f(z, c)), (3, H, W).
    pub noise: Vec<f32>,
    /// s f(z, c) when the hypernetwork ran.
    pub offset: Option<Vec<f32>>,
    /// What computed f, when the hypernetwork ran.
    pub hypernetwork: Option<String>,
    /// Prompt to pixels read back.
    pub generate_ms: f64,
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
    /// Whether `part` has been added.
    fn has(&self, part: Part) -> bool;
    /// Adds `part` from its file's bytes, checked against the generator.
    fn add(&self, part: Part, bytes: &[u8]) -> Result<(), String>;
    /// `strength`: None = the base generator; Some(s) = g(z + s f(z, c)) (the hypernetwork added).
    fn generate<'a>(&'a self, prompt: &'a str, seed: u64, strength: Option<f32>) -> Pending<'a, Generation>;
    /// The learned reward of an image for a prompt (the reward added).
    fn score<'a>(&'a self, prompt: &'a str, image: &'a Image) -> Pending<'a, f32>;
    /// The reward added.
    fn start_reno(self: Rc<Self>, prompt: &str, seed: u64, config: RenoConfig) -> Result<Box<dyn RenoSteps>, String>;
}

pub trait RenoSteps {
    fn step(&mut self) -> Pending<'_, RenoProgress>;
}

/// The learned reward, for scoring and, differentiable, for ReNO.
struct Reward {
    plain: RewardModel,
    differentiable: RewardModel,
}

pub struct Models {
    /// The generator's file: adapters added later are checked against it.
    generator: Vec<u8>,
    /// The base generator and the hypernetwork once added (a LoRA one folded into a copy's
    /// weights).
    pipeline: RefCell<Pipeline>,
    reward: OnceCell<Rc<Reward>>,
    /// ReNO differentiates through this with respect to the noise only. (Boxed, as the
    /// pipeline's networks are, to keep it off WebAssembly's small stack.)
    reno_generator: OnceCell<Rc<Generator>>,
    /// Where the models run, without autodiff (the differentiable copies add it).
    device: Device,
}

impl Models {
    pub fn load(generator: &[u8], device: &Device) -> Result<Self, String> {
        let pipeline = Pipeline::load(generator, &[], device).map_err(|e| format!("generator: {e}"))?;
        Ok(Models {
            generator: generator.to_vec(),
            pipeline: RefCell::new(pipeline),
            reward: OnceCell::new(),
            reno_generator: OnceCell::new(),
            device: device.clone(),
        })
    }

    fn add_hypernetwork(&self, bytes: &[u8]) -> Result<(), String> {
        let method = self.pipeline.borrow_mut().add(&self.generator, bytes).map_err(|e| e.to_string())?;
        if method != Method::Hypernoise {
            return Err("these adapters are a fine-tuned generator, not a noise hypernetwork".into());
        }
        Ok(())
    }

    fn add_reward(&self, bytes: &[u8]) -> Result<(), String> {
        let (differentiable, config) =
            RewardModel::from_bytes(bytes, &self.device.clone().autodiff()).map_err(|e| e.to_string())?;
        let resolution = self.pipeline.borrow().resolution();
        if config.resolution != resolution {
            return Err(format!(
                "scores {0}x{0} images, the generator makes {resolution}x{resolution}",
                config.resolution
            ));
        }
        let differentiable = differentiable.no_grad();
        let reward = Reward { plain: differentiable.valid(), differentiable };
        self.reward.set(Rc::new(reward)).map_err(|_| "a reward was already added".to_string())
    }

    fn reward(&self) -> Result<Rc<Reward>, String> {
        self.reward.get().cloned().ok_or_else(|| "the reward is not loaded yet".into())
    }

    fn reno_generator(&self) -> Result<Rc<Generator>, String> {
        if let Some(g) = self.reno_generator.get() {
            return Ok(g.clone());
        }
        let (g, _) = Generator::from_bytes(&self.generator, &self.device.clone().autodiff())
            .map_err(|e| format!("generator: {e}"))?;
        Ok(self.reno_generator.get_or_init(|| Rc::new(g.no_grad())).clone())
    }
}

async fn read<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, String> {
    let data = t.into_data_async().await.map_err(|e| format!("reading results back: {e:?}"))?;
    data.convert::<f32>().try_into_vec().map_err(|e| format!("reading results back: {e:?}"))
}

async fn read_image(x: Tensor<4>) -> Result<Image, String> {
    let dims = x.dims();
    Ok(data_to_images(&read(x).await?, dims).remove(0))
}

impl Engine for Models {
    fn resolution(&self) -> usize {
        self.pipeline.borrow().resolution()
    }

    fn has(&self, part: Part) -> bool {
        match part {
            Part::Hypernetwork => self.pipeline.borrow().methods().contains(&Method::Hypernoise),
            Part::Reward => self.reward.get().is_some(),
        }
    }

    fn add(&self, part: Part, bytes: &[u8]) -> Result<(), String> {
        match part {
            Part::Hypernetwork => self.add_hypernetwork(bytes),
            Part::Reward => self.add_reward(bytes),
        }
        .map_err(|e| format!("{}: {e}", part.name()))
    }

    fn generate<'a>(&'a self, prompt: &'a str, seed: u64, strength: Option<f32>) -> Pending<'a, Generation> {
        Box::pin(async move {
            let started = now_ms();
            // the pipeline is borrowed only while the passes are queued, never across a read
            let (x, fed, hypernetwork) = {
                let pipeline = self.pipeline.borrow();
                let hypernetwork = strength.and(pipeline.hypernetwork()).map(|f| f.describe());
                let inputs = pipeline.inputs(&[prompt], &[seed]).map_err(|e| e.to_string())?;
                // HyperNoise is the base generator on the modulated noise z' = z + s f(z, c)
                let fed = match strength {
                    Some(s) => Some(pipeline.modulate(&inputs, s).map_err(|e| e.to_string())?),
                    None => None,
                };
                let noise = fed.clone().unwrap_or(inputs.noise);
                let x = pipeline.images(Method::Base, &Inputs { noise, tokens: inputs.tokens }, 1.0);
                (x.map_err(|e| e.to_string())?, fed, hypernetwork)
            };
            let image = read_image(x).await?;
            let generate_ms = now_ms() - started;
            // the noise is also made on the CPU, so only the modulated noise needs reading back
            let z = seeded(seed, image.width);
            let (noise, offset) = match fed {
                Some(fed) => {
                    let fed = read(fed).await?;
                    let offset = fed.iter().zip(&z).map(|(a, b)| a - b).collect();
                    (fed, Some(offset))
                }
                None => (z, None),
            };
            Ok(Generation { image, noise, offset, hypernetwork, generate_ms })
        })
    }

    fn score<'a>(&'a self, prompt: &'a str, image: &'a Image) -> Pending<'a, f32> {
        Box::pin(async move {
            let reward = self.reward()?;
            let tokens = Inputs::new(&[prompt], &[0], image.width, &self.device).map_err(|e| e.to_string())?.tokens;
            let x = images_to_tensor(std::slice::from_ref(image), &self.device);
            Ok(read(reward.plain.forward(x, tokens)).await?[0])
        })
    }

    fn start_reno(self: Rc<Self>, prompt: &str, seed: u64, config: RenoConfig) -> Result<Box<dyn RenoSteps>, String> {
        let reward = self.reward()?;
        let generator = self.reno_generator()?;
        let Inputs { noise: z, tokens } =
            Inputs::new(&[prompt], &[seed], self.resolution(), &self.device).map_err(|e| e.to_string())?;
        let reno = Reno::new(generator.encode(tokens.clone()), z, &config);
        Ok(Box::new(RenoRun { generator, reward, reno, tokens }))
    }
}

struct RenoRun {
    generator: Rc<Generator>,
    reward: Rc<Reward>,
    reno: Reno,
    tokens: Tensor<2, Int>,
}

impl RenoSteps for RenoRun {
    fn step(&mut self) -> Pending<'_, RenoProgress> {
        Box::pin(async move {
            if self.reno.finished() {
                return Err("this ReNO run is finished".into());
            }
            let (reward, tokens) = (&self.reward.differentiable, self.tokens.clone());
            let (x, r) = self.reno.evaluate(&self.generator, |x| reward.forward(x, tokens.clone()));
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
