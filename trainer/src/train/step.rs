//! One optimizer step: backward, then the optimizer's update (with global-norm clipping). [`Local`] makes it
//! on one device; `data_parallel::DataParallel` on several.

use super::optimizer::Optimizer;
use burn::optim::GradientsParams;
use burn::prelude::*;

/// What a step is told by the loop.
#[derive(Clone, Copy, Debug)]
pub struct StepAt {
    pub step: usize,
    pub lr: f64,
    /// Clip gradients to this global norm (all parameters together) first.
    pub clip: Option<f64>,
}

/// How the loop updates the model each step with an optimizer `O`.
pub trait Stepper<M, O> {
    /// Step `at.step`'s update: the new model and the step's loss value (no graph).
    fn step(&mut self, model: M, optim: &mut O, at: StepAt) -> (M, Tensor<1>);
}

/// One device: the closure gives a step's loss from the model and the step index.
pub struct Local<F>(pub F);

impl<M, O, F> Stepper<M, O> for Local<F>
where
    M: Module,
    O: Optimizer,
    F: FnMut(&M, usize) -> Tensor<1>,
{
    fn step(&mut self, model: M, optim: &mut O, at: StepAt) -> (M, Tensor<1>) {
        let loss = (self.0)(&model, at.step);
        update(model, optim, loss, at)
    }
}

/// Backward from `loss`, then the optimizer's update; the new model and the loss value.
pub fn update<M: Module, O: Optimizer>(model: M, optim: &mut O, loss: Tensor<1>, at: StepAt) -> (M, Tensor<1>) {
    let value = loss.clone().inner();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    (optim.apply(model, grads, at), value)
}
