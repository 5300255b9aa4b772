//! Rewards r(image, prompt) for noise optimisation. Differentiable in the image, never the
//! evaluator: `analytic` holds closed-form rewards (the paper's redness toy), `model` a learned
//! prompt-faithfulness scorer trained against hard negatives (`negatives`).

pub mod analytic;
pub mod model;
pub mod negatives;

pub use model::{RewardConfig, RewardModel};
