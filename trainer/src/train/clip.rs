//! Gradient clipping by the global norm over all parameters, as torch's clip_grad_norm_ (burn's
//! own clipping works per parameter tensor, which the paper's settings do not mean).

use burn::module::{ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

/// Scales every gradient by min(1, max_norm / ||g||). The factor stays on the device: reading
/// the norm back would make the host wait for the backward pass every step.
pub fn clip_global_norm<M: Module>(model: &M, grads: GradientsParams, max_norm: f64) -> GradientsParams {
    struct SumSquares<'a>(&'a GradientsParams, Option<Tensor<1>>);
    impl ModuleVisitor for SumSquares<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.0.get::<D>(param.id) {
                let s = g.powi_scalar(2).sum();
                self.1 = Some(match self.1.take() {
                    Some(acc) => acc + s,
                    None => s,
                });
            }
        }
    }
    struct Scale<'a>(&'a mut GradientsParams, Tensor<1>);
    impl ModuleVisitor for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.0.remove::<D>(param.id) {
                self.0.register(param.id, g * self.1.clone().reshape([1; D]));
            }
        }
    }
    let mut sum = SumSquares(&grads, None);
    model.visit(&mut sum);
    let Some(squares) = sum.1 else { return grads };
    let factor = squares.sqrt().clamp_min(max_norm).recip().mul_scalar(max_norm);
    let mut grads = grads;
    model.visit(&mut Scale(&mut grads, factor));
    grads
}
