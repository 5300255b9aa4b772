//! Gradient clipping by the global norm over all parameters, as torch's clip_grad_norm_ (burn's
//! own clipping works per parameter tensor, which the paper's settings do not mean).

use burn::module::{ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;

/// Scales every gradient by min(1, max_norm / ||g||). The factor stays on the device: reading
/// the norm back would make the host wait for the backward pass every step. On a GPU every
/// operation here is a kernel the host issues (a LoRA hypernetwork has some 230 adapter
/// tensors), so the norm is one sum of squares over all gradients flattened into one vector, and
/// the scale one multiplication per gradient.
pub fn clip_global_norm<M: Module>(model: &M, grads: GradientsParams, max_norm: f64) -> GradientsParams {
    struct Scale<'a>(&'a mut GradientsParams, Tensor<1>);
    impl ModuleVisitor for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.0.remove::<D>(param.id) {
                self.0.register(param.id, g * self.1.clone().reshape([1; D]));
            }
        }
    }
    let Some((_, flat)) = flatten_gradients(model, &grads) else { return grads };
    let factor = norm_clip_factor(&flat, max_norm);
    let mut grads = grads;
    model.visit(&mut Scale(&mut grads, factor));
    grads
}

/// The gradients of `model`'s parameters, in the order it visits them, as one vector, with
/// each one's parameter and length; none if no parameter has a gradient.
pub fn flatten_gradients<M: Module>(model: &M, grads: &GradientsParams) -> Option<(Vec<(ParamId, usize)>, Tensor<1>)> {
    struct Flatten<'a> {
        grads: &'a GradientsParams,
        layout: Vec<(ParamId, usize)>,
        parts: Vec<Tensor<1>>,
    }
    impl ModuleVisitor for Flatten<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(param.id) {
                self.layout.push((param.id, g.shape().num_elements()));
                self.parts.push(g.reshape([-1]));
            }
        }
    }
    let mut flat = Flatten { grads, layout: Vec::new(), parts: Vec::new() };
    model.visit(&mut flat);
    (!flat.parts.is_empty()).then(|| (flat.layout, Tensor::cat(flat.parts, 0)))
}

/// min(1, max_norm / ||flat||), a one-element tensor on `flat`'s device.
pub fn norm_clip_factor(flat: &Tensor<1>, max_norm: f64) -> Tensor<1> {
    let squares = flat.clone().powi_scalar(2).sum();
    squares.sqrt().clamp_min(max_norm).recip().mul_scalar(max_norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};

    #[derive(Module, Debug)]
    struct Two {
        a: Linear,
        b: Linear,
    }

    /// A two-layer model (four gradient tensors of two ranks) and its gradients for a loss
    /// times `scale`.
    fn gradients(scale: f32) -> (Two, GradientsParams) {
        let device = Device::flex().autodiff();
        let model = Two { a: LinearConfig::new(3, 4).init(&device), b: LinearConfig::new(4, 2).init(&device) };
        let x = Tensor::<2>::from_floats([[1.0, -2.0, 0.5], [0.3, 0.1, -1.0]], &device);
        let loss = model.b.forward(model.a.forward(x)).sum() * scale;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        (model, grads)
    }

    /// Each gradient tensor's sum of squares, in the model's order.
    fn squares(model: &Two, grads: &GradientsParams) -> Vec<f64> {
        let (a, b) = (&model.a, &model.b);
        let sq1 = |id| grads.get::<1>(id).unwrap().powi_scalar(2).sum().into_scalar::<f64>();
        let sq2 = |id| grads.get::<2>(id).unwrap().powi_scalar(2).sum().into_scalar::<f64>();
        vec![sq2(a.weight.id), sq1(a.bias.as_ref().unwrap().id), sq2(b.weight.id), sq1(b.bias.as_ref().unwrap().id)]
    }

    /// A global norm above the limit comes out at the limit, every tensor scaled by the same
    /// factor; one below it is left as it is.
    #[test]
    fn scales_the_global_norm_to_the_limit_and_leaves_smaller_ones() {
        for scale in [100.0, 0.01] {
            let (model, grads) = gradients(scale);
            let before = squares(&model, &grads);
            let norm = before.iter().sum::<f64>().sqrt();
            let after = squares(&model, &clip_global_norm(&model, grads, 1.0));
            let factor = norm.min(1.0) / norm;
            assert!(scale < 1.0 || norm > 1.0, "the large case must need clipping");
            for (b, a) in before.iter().zip(&after) {
                assert!(
                    (a / b - factor * factor).abs() < 1e-5 * factor * factor,
                    "scale {scale}: {a} / {b}, not {factor}^2"
                );
            }
        }
    }
}
