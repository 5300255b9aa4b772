//! SiLU, x * sigmoid(x), as one backend operation with its own backward pass.
//!
//! burn's `activation::silu` is two operations, a sigmoid and a product, and under autodiff its
//! backward pass recomputes the sigmoid (burn keeps sigmoid's input, not its output), runs
//! sigmoid's backward, both sides of the product's and adds the two gradients that reach x: some
//! seven operations a SiLU, where LibTorch has one kernel each way. The generator runs 30 SiLUs
//! a pass (three in each of its nine residual blocks, three elsewhere) and a `fit` step two passes forward and
//! backward: on one H100 LibTorch's `fit` step at batch 64 went from 79 to 73 ms with this
//! (BENCHMARKS.md). Here the forward pass is LibTorch's `silu` kernel (elsewhere burn's composition,
//! so that CPU images stay bit for bit what burn computes) and the backward pass is
//! LibTorch's `silu_backward` (elsewhere the closed form, grad * s * (1 + x (1 - s))).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{unary, Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex, Scalar};
use burn::prelude::*;

/// x * sigmoid(x), element-wise.
pub fn silu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as SiluOps>::silu(x.into_dispatch()))
}

/// The operation, for every backend a [`Device`] may name. The default bodies are the composed
/// form, for the backends without a kernel of their own.
#[backend_extension(
    Flex,
    LibTorch: cfg(feature = "tch"),
    Cube: cfg(any(feature = "cuda", feature = "webgpu")),
    Autodiff
)]
pub trait SiluOps: Backend {
    /// x * sigmoid(x), as burn's `activation::silu` computes it.
    fn silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_mul(x.clone(), Self::sigmoid(x))
    }

    /// The gradient with respect to `x` for the output's gradient `grad`:
    /// grad * s * (1 + x (1 - s)), s = sigmoid(x).
    fn silu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let s = Self::sigmoid(x.clone());
        let one_minus_s = Self::float_add_scalar(Self::float_neg(s.clone()), Scalar::Float(1.0));
        let slope = Self::float_add_scalar(Self::float_mul(x, one_minus_s), Scalar::Float(1.0));
        Self::float_mul(grad, Self::float_mul(s, slope))
    }
}

impl SiluOps for Flex {}

#[cfg(any(feature = "cuda", feature = "webgpu"))]
impl SiluOps for burn::backend::Cube {}

/// LibTorch's own kernels, one launch each way.
#[cfg(feature = "tch")]
impl SiluOps for burn::backend::LibTorch {
    fn silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        burn::backend::libtorch::TchTensor::new(x.tensor.silu())
    }

    fn silu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        burn::backend::libtorch::TchTensor::new(x.tensor.silu_backward(&grad.tensor))
    }
}

/// One graph node keeping its input, whose backward pass is the backend's `silu_backward`.
impl<B: SiluOps, C: CheckpointStrategy> SiluOps for Autodiff<B, C> {
    fn silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct SiluBackward;

        impl<B: SiluOps> Backward<B, 1> for SiluBackward {
            type State = FloatTensor<B>;

            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
                let x = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |grad| B::silu_backward(x, grad));
            }
        }

        match SiluBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let x = x.into_primitive();
                prep.finish(x.clone(), B::silu(x))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::silu(x.into_primitive())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{max_difference, random};
    use burn::tensor::activation;

    #[test]
    fn matches_burns_silu_and_its_gradient() {
        let device = Device::flex().autodiff();
        let x = random([3, 4, 5], 0.0, 6.0, 1, &device).require_grad();
        let weights = random([3, 4, 5], 0.0, 6.0, 2, &device);
        let (y, y_ref) = (silu(x.clone()), activation::silu(x.clone()));
        let grads = (y.clone() * weights.clone()).sum().backward();
        let grads_ref = (y_ref.clone() * weights).sum().backward();
        assert!(max_difference(y, y_ref) < 1e-6, "outputs differ");
        let gap = max_difference(x.grad(&grads).unwrap(), x.grad(&grads_ref).unwrap());
        assert!(gap < 1e-5, "input gradients differ by {gap}");
    }

    /// Without autodiff the composition is burn's own, so models trained with burn's SiLU give
    /// the same pixels.
    #[test]
    fn inference_on_the_cpu_is_burns_bit_for_bit() {
        let device = Device::flex();
        let x = random([2, 8, 9], 0.0, 6.0, 3, &device);
        silu(x.clone()).into_data().assert_eq(&activation::silu(x).into_data(), true);
    }

    #[test]
    fn an_untracked_input_gets_no_gradient_and_a_tracked_one_beside_it_does() {
        let device = Device::flex().autodiff();
        let (frozen, tracked) =
            (random([2, 3, 4], 0.0, 6.0, 4, &device), random([2, 3, 4], 0.0, 6.0, 5, &device).require_grad());
        let grads = (silu(frozen.clone()) * silu(tracked.clone())).sum().backward();
        assert!(frozen.grad(&grads).is_none());
        let g: f32 = tracked.grad(&grads).expect("an input gradient").abs().sum().into_scalar();
        assert!(g > 0.0);
    }
}
