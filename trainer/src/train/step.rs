//! One optimizer step: backward, global-norm clipping, the optimizer's update. [`Local`] makes it
//! on one device; `data_parallel::DataParallel` on several.

use super::clip::clip_global_norm;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;

/// What a step is told by the loop.
#[derive(Clone, Copy, Debug)]
pub struct StepAt {
    pub step: usize,
    pub lr: f64,
    /// Clip gradients to this global norm (all parameters together) first.
    pub clip: Option<f64>,
}

/// How the loop updates the model each step.
pub trait Stepper<M> {
    /// Step `at.step`'s update: the new model and the step's loss value (no graph).
    fn step(&mut self, model: M, optim: &mut ModuleOptimizer, at: StepAt) -> (M, Tensor<1>);
}

/// One device: the closure gives a step's loss from the model and the step index.
pub struct Local<F>(pub F);

impl<M, F> Stepper<M> for Local<F>
where
    M: Module,
    F: FnMut(&M, usize) -> Tensor<1>,
{
    fn step(&mut self, model: M, optim: &mut ModuleOptimizer, at: StepAt) -> (M, Tensor<1>) {
        let loss = (self.0)(&model, at.step);
        update(model, optim, loss, at)
    }
}

/// Backward from `loss`, then [`apply`]; the new model and the loss value.
pub fn update<M: Module>(model: M, optim: &mut ModuleOptimizer, loss: Tensor<1>, at: StepAt) -> (M, Tensor<1>) {
    let value = loss.clone().inner();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    (apply(model, optim, grads, at), value)
}

/// Clips (when asked) and applies gradients.
pub fn apply<M: Module>(model: M, optim: &mut ModuleOptimizer, grads: GradientsParams, at: StepAt) -> M {
    let grads = match at.clip {
        Some(max_norm) => clip_global_norm(&model, grads, max_norm),
        None => grads,
    };
    optim.step(at.lr, model, grads)
}
