//! The 2-D convolution, whose weight gradient LibTorch computes with cuDNN's own kernels, and
//! whose forward pass the CPU (Flex) computes without burn-flex's layout copies (flex.rs).
//!
//! burn 0.22's backward pass for a convolution (burn-backend's generic one, which burn-tch does
//! not override) computes the weight gradient as one more convolution: of the input with batch
//! and channels swapped by the output gradient with batch and channels swapped, a kernel as large
//! as the image, for which cuDNN first copies both operands contiguous, where PyTorch runs
//! cuDNN's weight-gradient kernels (bench/torch/conv_grad.py times the two). A `fit` step
//! takes the weight gradient of every convolution of the noise hypernetwork (LoRA adapts them
//! all). Here LibTorch computes the weight gradient as PyTorch's autograd does, by ATen's
//! `convolution_backward` (cuDNN's weight-gradient kernels), called through
//! cpp/conv2d_backward.cpp since tch wraps no operation that returns it. Elsewhere it is burn's
//! own. The forward pass is every GPU backend's own convolution.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex, TensorMetadata};
use burn::prelude::*;
use burn::tensor::ops::ConvOptions;

mod flex;

/// `x` (B, in, H, W) convolved with `weight` (out, in, k, k), plus `bias` (out).
pub fn conv2d(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>, options: ConvOptions<2>) -> Tensor<4> {
    let [x, weight] = [x, weight].map(|t| t.into_dispatch());
    Tensor::from_dispatch(match bias {
        Some(b) => <Dispatch as ConvOps>::conv2d_biased(x, weight, b.into_dispatch(), options),
        None => <Dispatch as ConvOps>::conv2d_unbiased(x, weight, options),
    })
}

/// The operation, for every backend a [`Device`] may name (with and without a bias, as burn's
/// extensions take no optional tensor). The default bodies are burn's.
#[backend_extension(
    Flex,
    LibTorch: cfg(feature = "tch"),
    Cube: cfg(any(feature = "cuda", feature = "webgpu")),
    Autodiff
)]
pub trait ConvOps: Backend {
    /// The backend's own convolution (burn's `module::conv2d`) with a bias.
    fn conv2d_biased(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        <Self as ModuleOps<Self>>::conv2d(x, weight, Some(bias), options)
    }

    /// The same without a bias.
    fn conv2d_unbiased(x: FloatTensor<Self>, weight: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        <Self as ModuleOps<Self>>::conv2d(x, weight, None, options)
    }

    /// The weight's gradient for the output's gradient `grad`.
    fn weight_gradient(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        <Self as ModuleOps<Self>>::conv2d_weight_backward(x, weight, grad, options)
    }
}

/// burn-flex's convolution through its matrix product without its layout copies (flex.rs).
impl ConvOps for Flex {
    fn conv2d_biased(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        flex::conv2d(x, weight, Some(bias), options)
    }

    fn conv2d_unbiased(x: FloatTensor<Self>, weight: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        flex::conv2d(x, weight, None, options)
    }
}

#[cfg(any(feature = "cuda", feature = "webgpu"))]
impl ConvOps for burn::backend::Cube {}

/// ATen's `convolution_backward` for the weight alone: cuDNN's weight-gradient kernels.
#[cfg(feature = "tch")]
impl ConvOps for burn::backend::LibTorch {
    fn weight_gradient(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        assert!(!options.is_asymmetric(), "the model's convolutions pad both sides alike");
        let [stride, padding, dilation] =
            [options.stride, options.padding_begin(), options.dilation].map(|v| v.map(|i| i as i64));
        let dw = libtorch::weight_gradient(
            &grad.tensor,
            &x.tensor,
            &weight.tensor,
            [stride, padding, dilation],
            options.groups as i64,
        );
        burn::backend::libtorch::TchTensor::new(dw)
    }
}

/// The call into cpp/conv2d_backward.cpp: the crate's one foreign call, hence its one allowance
/// of unsafe code.
#[cfg(feature = "tch")]
#[allow(unsafe_code)]
mod libtorch {
    use std::ffi::{c_char, c_int, c_void, CStr};
    use tch::Tensor;

    extern "C" {
        fn hypernoise_conv2d_weight_gradient(
            grad: *const c_void,
            x: *const c_void,
            weight: *const c_void,
            stride: *const i64,
            padding: *const i64,
            dilation: *const i64,
            groups: i64,
            gradient: *mut *mut c_void,
            error: *mut c_char,
            error_capacity: usize,
        ) -> c_int;
    }

    /// The weight's gradient; panics with ATen's message on failure, as tch's own operations do.
    pub fn weight_gradient(
        grad: &Tensor,
        x: &Tensor,
        weight: &Tensor,
        [stride, padding, dilation]: [[i64; 2]; 3],
        groups: i64,
    ) -> Tensor {
        let mut gradient = std::ptr::null_mut();
        let mut error = [0 as c_char; 1024];
        // SAFETY: the tensors outlive the call; the C++ side writes a new tensor's handle, or a
        // NUL-terminated message within the buffer
        let failed = unsafe {
            hypernoise_conv2d_weight_gradient(
                grad.as_ptr().cast(),
                x.as_ptr().cast(),
                weight.as_ptr().cast(),
                stride.as_ptr(),
                padding.as_ptr(),
                dilation.as_ptr(),
                groups,
                &mut gradient,
                error.as_mut_ptr(),
                error.len(),
            )
        };
        if failed != 0 {
            // SAFETY: the C++ side terminated the message within the buffer
            let message = unsafe { CStr::from_ptr(error.as_ptr()) }.to_string_lossy();
            panic!("LibTorch's convolution weight gradient failed: {message}");
        }
        // SAFETY: a new tensor this side now owns
        unsafe { Tensor::from_ptr(gradient.cast()) }
    }
}

/// One graph node keeping the input and the weight, whose backward pass computes the gradients
/// of the tracked parents, (x, weight) or (x, weight, bias): the input's as burn does (a
/// transposed convolution, cuDNN's data-gradient kernel on LibTorch), the weight's by the
/// backend's [`ConvOps::weight_gradient`], the bias's as the output gradient's sum per channel.
impl<B: ConvOps, C: CheckpointStrategy> ConvOps for Autodiff<B, C> {
    fn conv2d_biased(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let prepared = ConvBackward.prepare::<C>([x.node(), weight.node(), bias.node()]).compute_bound().stateful();
        record(prepared, x.into_primitive(), weight.into_primitive(), Some(bias.into_primitive()), options)
    }

    fn conv2d_unbiased(x: FloatTensor<Self>, weight: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        let prepared = ConvBackward.prepare::<C>([x.node(), weight.node()]).compute_bound().stateful();
        record(prepared, x.into_primitive(), weight.into_primitive(), None, options)
    }
}

#[derive(Debug)]
struct ConvBackward;

impl<B: ConvOps, const N: usize> Backward<B, N> for ConvBackward {
    /// The input, the weight and the options.
    type State = (FloatTensor<B>, FloatTensor<B>, ConvOptions<2>);

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let (x, weight, options) = ops.state;
        let mut parents = ops.parents.into_iter();
        let (x_node, weight_node, bias_node) =
            (parents.next().flatten(), parents.next().flatten(), parents.next().flatten());
        if let Some(node) = bias_node {
            let [b, c, h, w] = grad.shape().dims();
            let rows = B::float_reshape(B::float_swap_dims(grad.clone(), 0, 1), [c, b * h * w].into());
            grads.register::<B>(node.id, B::float_reshape(B::float_sum_dim(rows, 1), [c].into()));
        }
        if let Some(node) = x_node {
            let dx = <B as ModuleOps<B>>::conv2d_x_backward(x.clone(), weight.clone(), grad.clone(), options.clone());
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = weight_node {
            grads.register::<B>(node.id, B::weight_gradient(x, weight, grad, options));
        }
    }
}

/// The forward pass, its input and weight kept when a parent is tracked.
fn record<B: ConvOps, C: CheckpointStrategy, const N: usize>(
    prepared: OpsKind<ConvBackward, B, <ConvBackward as Backward<B, N>>::State, C, N>,
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: Option<FloatTensor<B>>,
    options: ConvOptions<2>,
) -> FloatTensor<Autodiff<B, C>> {
    let forward = |x, weight| match bias {
        Some(b) => B::conv2d_biased(x, weight, b, options.clone()),
        None => B::conv2d_unbiased(x, weight, options.clone()),
    };
    match prepared {
        OpsKind::Tracked(prep) => {
            let out = forward(x.clone(), weight.clone());
            prep.finish((x, weight, options), out)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(x, weight)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{max_difference, random};
    use burn::tensor::module;

    /// Output and the three gradients against burn's own convolution under autodiff, strided
    /// and not, with and without a bias.
    #[test]
    fn matches_burns_convolution_and_its_gradients() {
        let device = Device::flex().autodiff();
        for (stride, with_bias) in [(1, true), (2, true), (1, false)] {
            let options = ConvOptions::new([stride; 2], [1, 1], [1, 1], 1);
            let x = random([2, 3, 8, 8], 0.5, 1.0, 1, &device).require_grad();
            let w = random([4, 3, 3, 3], 0.0, 1.0, 2, &device).require_grad();
            let b = with_bias.then(|| random([4], 0.0, 1.0, 3, &device).require_grad());
            let ours = conv2d(x.clone(), w.clone(), b.clone(), options.clone());
            let reference = module::conv2d(x.clone(), w.clone(), b.clone(), options);
            assert!(max_difference(ours.clone(), reference.clone()) < 1e-5, "stride {stride}: outputs differ");
            let weights = random(ours.dims(), 0.0, 2.0, 4, &device);
            let grads = (ours * weights.clone()).sum().backward();
            let grads_ref = (reference * weights).sum().backward();
            for (name, ours, theirs) in
                [("x", x.grad(&grads), x.grad(&grads_ref)), ("weight", w.grad(&grads), w.grad(&grads_ref))]
            {
                let gap = max_difference(ours.unwrap(), theirs.unwrap());
                assert!(gap < 1e-4, "stride {stride}: {name} gradients differ by {gap}");
            }
            if let Some(b) = b {
                let gap = max_difference(b.grad(&grads).unwrap(), b.grad(&grads_ref).unwrap());
                assert!(gap < 1e-4, "bias gradients differ by {gap}");
            }
        }
    }

    /// With a frozen weight (the generator's) only the input gets its gradient, and with a
    /// frozen input only the weight: each as burn's convolution computes it.
    #[test]
    fn a_frozen_parent_leaves_the_other_gradient_intact() {
        let device = Device::flex().autodiff();
        let options = ConvOptions::new([2, 2], [1, 1], [1, 1], 1);
        let (x, w) = (random([1, 2, 6, 6], 0.0, 1.0, 5, &device), random([3, 2, 3, 3], 0.0, 1.0, 6, &device));
        for tracked_input in [true, false] {
            let (x, w) = if tracked_input {
                (x.clone().require_grad(), w.clone())
            } else {
                (x.clone(), w.clone().require_grad())
            };
            let grads = conv2d(x.clone(), w.clone(), None, options.clone()).sum().backward();
            let grads_ref = module::conv2d(x.clone(), w.clone(), None, options.clone()).sum().backward();
            let (tracked, frozen) = if tracked_input { (&x, &w) } else { (&w, &x) };
            assert!(frozen.grad(&grads).is_none());
            let gap = max_difference(tracked.grad(&grads).unwrap(), tracked.grad(&grads_ref).unwrap());
            assert!(gap < 1e-4, "tracked input {tracked_input}: gradients differ by {gap}");
        }
    }
}
