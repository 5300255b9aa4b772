//! GroupNorm, and LayerNorm as its one-group case, as one backend operation with its own
//! backward pass.
//!
//! burn's `nn::GroupNorm` composes the normalisation of a dozen tensor operations (reshapes, two
//! means, subtract, square, add, square root, divide, scale, shift), and under autodiff each one
//! is a graph node with its own backward operations. The generator's U-Net runs 24 GroupNorms and
//! 15 LayerNorms a pass and a `fit` step two passes forward and backward, so these compositions
//! were some 1,500 of its operations: on LibTorch each one a kernel the host issues while the GPU
//! waits (`BENCHMARKS.md`, "Training speed on a GPU"). Here the
//! forward pass is one operation (LibTorch's fused `native_group_norm` kernel; elsewhere the same
//! composition as burn's, which fusing backends fuse themselves) and the backward pass is the
//! closed-form gradient, computed once per norm from the saved statistics instead of through
//! each composed operation's backward. burn's LayerNorm is one backend operation (LibTorch's
//! kernel) but under autodiff it is composed again; here it is the same operation as GroupNorm,
//! one group per row.
//!
//! The parameters are named as burn's modules name them (`gamma`, `beta`), so weight files are
//! unchanged.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::{FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, AutodiffBackend, Backend, Dispatch, Flex, Scalar, TensorMetadata};
use burn::module::{Module, Param};
use burn::prelude::*;
use burn::tensor::Shape;

/// GroupNorm over (B, C, ...) features with a learned scale and shift per channel.
#[derive(Module, Debug)]
pub struct GroupNorm {
    gamma: Param<Tensor<1>>,
    beta: Param<Tensor<1>>,
    groups: usize,
    epsilon: f64,
}

impl GroupNorm {
    /// `groups` must divide `channels`; the scale starts at one and the shift at zero.
    pub fn new(groups: usize, channels: usize, device: &Device) -> Self {
        assert!(groups > 0 && channels.is_multiple_of(groups), "{groups} groups do not divide {channels} channels");
        GroupNorm {
            gamma: Param::from_tensor(Tensor::ones([channels], device)),
            beta: Param::from_tensor(Tensor::zeros([channels], device)),
            groups,
            epsilon: 1e-5,
        }
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        normalised(x, &self.gamma, &self.beta, self.groups, self.epsilon)
    }
}

/// LayerNorm over the last dimension, with a learned scale and shift per feature: the backend's
/// own operation, and under autodiff a one-group GroupNorm of the (rows, features) matrix.
#[derive(Module, Debug)]
pub struct LayerNorm {
    gamma: Param<Tensor<1>>,
    beta: Param<Tensor<1>>,
    epsilon: f64,
}

impl LayerNorm {
    pub fn new(features: usize, device: &Device) -> Self {
        LayerNorm {
            gamma: Param::from_tensor(Tensor::ones([features], device)),
            beta: Param::from_tensor(Tensor::zeros([features], device)),
            epsilon: 1e-5,
        }
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let [gamma, beta] = [&self.gamma, &self.beta].map(|p| p.val().into_dispatch());
        Tensor::from_dispatch(<Dispatch as GroupNormOps>::layer_norm(x.into_dispatch(), gamma, beta, self.epsilon))
    }
}

/// GroupNorm on `x` (B, C, ...) with the module's parameters.
fn normalised<const D: usize>(
    x: Tensor<D>,
    gamma: &Param<Tensor<1>>,
    beta: &Param<Tensor<1>>,
    groups: usize,
    epsilon: f64,
) -> Tensor<D> {
    let [gamma, beta] = [gamma, beta].map(|p| p.val().into_dispatch());
    Tensor::from_dispatch(<Dispatch as GroupNormOps>::group_norm(x.into_dispatch(), gamma, beta, groups, epsilon))
}

/// The operation, for every backend a [`Device`] may name. The default bodies are the composed
/// form, for the backends without a kernel of their own.
#[backend_extension(
    Flex,
    LibTorch: cfg(feature = "tch"),
    Cube: cfg(any(feature = "cuda", feature = "webgpu")),
    Autodiff
)]
pub trait GroupNormOps: Backend {
    /// GroupNorm of `x` (B, C, ...), scaled by `gamma` (C) and shifted by `beta` (C).
    fn group_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        groups: usize,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        composed::<Self>(x, gamma, beta, groups, epsilon).0
    }

    /// LayerNorm of `x` over its last dimension, scaled by `gamma` and shifted by `beta`.
    fn layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        <Self as ModuleOps<Self>>::layer_norm(x, gamma, Some(beta), epsilon)
    }

    /// The output with each (sample, group)'s mean and reciprocal standard deviation, (B, groups),
    /// which the backward pass reads.
    fn group_norm_with_statistics(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        groups: usize,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (y, mean, std) = composed::<Self>(x, gamma, beta, groups, epsilon);
        (y, mean, Self::float_recip(std))
    }

    /// The gradient with respect to `x`, for the output's gradient `grad` (B, C, ...) and the
    /// normalised input `x_hat` (B, groups, C / groups * positions):
    /// rstd * (g - mean(g) - x_hat * mean(g * x_hat)) per (sample, group), g = grad * gamma.
    fn group_norm_backward_x(
        grad: FloatTensor<Self>,
        x_hat: FloatTensor<Self>,
        rstd: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let (shape, grouped) = (grad.shape(), x_hat.shape());
        let rstd = Self::float_reshape(rstd, Shape::new([grouped[0], grouped[1], 1]));
        let g = Self::float_reshape(Self::float_mul(grad, Self::float_reshape(gamma, channel_shape(&shape))), grouped);
        let g_mean = Self::float_mean_dim(g.clone(), 2);
        let gx_mean = Self::float_mean_dim(Self::float_mul(g.clone(), x_hat.clone()), 2);
        let centred = Self::float_sub(Self::float_sub(g, g_mean), Self::float_mul(x_hat, gx_mean));
        Self::float_reshape(Self::float_mul(centred, rstd), shape)
    }

    /// The gradients with respect to `gamma` and `beta`: sums over samples and positions of
    /// grad * x_hat and of grad.
    fn group_norm_backward_affine(
        grad: FloatTensor<Self>,
        x_hat: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let shape = grad.shape();
        let [b, c] = [shape[0], shape[1]];
        let per_channel = |t: FloatTensor<Self>| {
            let t = Self::float_sum_dim(Self::float_reshape(t, Shape::new([b, c, shape.num_elements() / (b * c)])), 2);
            Self::float_reshape(Self::float_sum_dim(t, 0), Shape::new([c]))
        };
        let x_hat = Self::float_reshape(x_hat, shape.clone());
        (per_channel(Self::float_mul(grad.clone(), x_hat)), per_channel(grad))
    }
}

/// GroupNorm as burn's module computes it, operation for operation (so that its outputs stay
/// bit for bit those of the models trained with it), with each (sample, group)'s mean and
/// standard deviation, (B, groups).
fn composed<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    groups: usize,
    epsilon: f64,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let shape = x.shape();
    let grouped = B::float_reshape(x, grouped_shape(&shape, groups));
    let mean = B::float_mean_dim(grouped.clone(), 2);
    let centred = B::float_sub(grouped, mean.clone());
    let variance = B::float_mean_dim(B::float_mul(centred.clone(), centred.clone()), 2);
    let std = B::float_sqrt(B::float_add_scalar(variance, Scalar::Float(epsilon)));
    let normalised = B::float_reshape(B::float_div(centred, std.clone()), shape.clone());
    let y = B::float_add(
        B::float_mul(normalised, B::float_reshape(gamma, channel_shape(&shape))),
        B::float_reshape(beta, channel_shape(&shape)),
    );
    let statistics = Shape::new([shape[0], groups]);
    (y, B::float_reshape(mean, statistics.clone()), B::float_reshape(std, statistics))
}

/// (B, groups, C / groups * positions): each group's values in one row.
fn grouped_shape(shape: &Shape, groups: usize) -> Shape {
    Shape::new([shape[0], groups, shape.num_elements() / (shape[0] * groups)])
}

/// (1, C, 1, ...): a per-channel vector broadcast over `shape`.
fn channel_shape(shape: &Shape) -> Shape {
    let mut dims = vec![1; shape.num_dims()];
    dims[1] = shape[1];
    Shape::from(dims)
}

/// x_hat = (x - mean) * rstd, (B, groups, C / groups * positions), for both backward passes.
fn normalised_grouped<B: Backend>(
    x: FloatTensor<B>,
    mean: FloatTensor<B>,
    rstd: FloatTensor<B>,
    groups: usize,
) -> FloatTensor<B> {
    let grouped = grouped_shape(&x.shape(), groups);
    let statistics = Shape::new([grouped[0], groups, 1]);
    let centred = B::float_sub(B::float_reshape(x, grouped), B::float_reshape(mean, statistics.clone()));
    B::float_mul(centred, B::float_reshape(rstd, statistics))
}

impl GroupNormOps for Flex {}

#[cfg(any(feature = "cuda", feature = "webgpu"))]
impl GroupNormOps for burn::backend::Cube {}

/// LibTorch's own kernel for the forward pass: one launch instead of a dozen.
#[cfg(feature = "tch")]
impl GroupNormOps for burn::backend::LibTorch {
    fn group_norm_with_statistics(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        groups: usize,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        use burn::backend::libtorch::TchTensor;
        let shape = x.shape();
        let [n, c] = [shape[0], shape[1]];
        let positions = shape.num_elements() / (n * c);
        let (y, mean, rstd) = x.tensor.native_group_norm(
            Some(&gamma.tensor),
            Some(&beta.tensor),
            n as i64,
            c as i64,
            positions as i64,
            groups as i64,
            epsilon,
        );
        (TchTensor::new(y), TchTensor::new(mean), TchTensor::new(rstd))
    }
}

/// One graph node whose backward pass is the closed form, on whatever backend is inside.
impl<B: GroupNormOps, C: CheckpointStrategy> GroupNormOps for Autodiff<B, C> {
    fn layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        if ![&x, &gamma, &beta].iter().any(|t| t.is_tracked()) {
            let [x, gamma, beta] = [x, gamma, beta].map(|t| t.into_primitive());
            return Self::from_inner(<B as GroupNormOps>::layer_norm(x, gamma, beta, epsilon));
        }
        let shape = x.shape();
        let features = shape[shape.num_dims() - 1];
        let rows = Self::float_reshape(x, Shape::new([shape.num_elements() / features, features]));
        Self::float_reshape(Self::group_norm(rows, gamma, beta, 1, epsilon), shape)
    }

    fn group_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        groups: usize,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct GroupNormBackward;

        /// The input, the statistics, the scale and the group count.
        type Saved<B> = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, usize);

        impl<B: GroupNormOps> Backward<B, 3> for GroupNormBackward {
            type State = Saved<B>;

            fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
                let [node_x, node_gamma, node_beta] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x, mean, rstd, gamma, groups) = ops.state;
                let x_hat = normalised_grouped::<B>(x, mean, rstd.clone(), groups);
                if node_gamma.is_some() || node_beta.is_some() {
                    let (d_gamma, d_beta) = B::group_norm_backward_affine(grad.clone(), x_hat.clone());
                    if let Some(node) = node_gamma {
                        grads.register::<B>(node.id, d_gamma);
                    }
                    if let Some(node) = node_beta {
                        grads.register::<B>(node.id, d_beta);
                    }
                }
                if let Some(node) = node_x {
                    grads.register::<B>(node.id, B::group_norm_backward_x(grad, x_hat, rstd, gamma));
                }
            }
        }

        let prepared = GroupNormBackward.prepare::<C>([x.node(), gamma.node(), beta.node()]).compute_bound().stateful();
        let [x, gamma, beta] = [x, gamma, beta].map(|t| t.into_primitive());
        match prepared {
            OpsKind::Tracked(prep) => {
                let (y, mean, rstd) = B::group_norm_with_statistics(x.clone(), gamma.clone(), beta, groups, epsilon);
                prep.finish((x, mean, rstd, gamma, groups), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::group_norm(x, gamma, beta, groups, epsilon)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{max_difference, random};

    /// Output and all three gradients against burn's own module, with a scale and shift that are
    /// not the identity, an input whose mean is far from zero, and a loss that weighs every
    /// output differently.
    fn assert_matches<const D: usize>(
        dims: [usize; D],
        features: usize,
        ours: impl Fn(&Tensor<D>, [Param<Tensor<1>>; 2]) -> Tensor<D>,
        reference: impl Fn(&Tensor<D>, [Param<Tensor<1>>; 2]) -> Tensor<D>,
    ) {
        let device = Device::flex().autodiff();
        let x = random(dims, 3.0, 2.0, 1, &device).require_grad();
        let weights = random(dims, 0.0, 2.0, 2, &device);
        let params =
            |seed| [random([features], 1.0, 2.0, seed, &device), random([features], 0.0, 2.0, seed + 1, &device)];
        let [ours_params, reference_params] = [params(3), params(3)].map(|p| p.map(Param::from_tensor));
        let y = ours(&x, ours_params.clone());
        let y_ref = reference(&x, reference_params.clone());
        assert!(max_difference(y.clone(), y_ref.clone()) < 1e-4, "outputs differ");

        let grads = (y * weights.clone()).sum().backward();
        let grads_ref = (y_ref * weights).sum().backward();
        let x_diff = max_difference(x.grad(&grads).unwrap(), x.grad(&grads_ref).unwrap());
        assert!(x_diff < 1e-4, "input gradients differ by {x_diff}");
        for (name, (p, p_ref)) in ["gamma", "beta"].iter().zip(ours_params.iter().zip(&reference_params)) {
            let g = p.val().grad(&grads).expect("a gradient for the parameter");
            let diff = max_difference(g, p_ref.val().grad(&grads_ref).unwrap());
            assert!(diff < 1e-3, "{name} gradients differ by {diff}");
        }
    }

    fn assert_group_norm_matches<const D: usize>(dims: [usize; D], groups: usize) {
        let device = Device::flex().autodiff();
        let channels = dims[1];
        let ours = |x: &Tensor<D>, [gamma, beta]: [Param<Tensor<1>>; 2]| {
            GroupNorm { gamma, beta, ..GroupNorm::new(groups, channels, &device) }.forward(x.clone())
        };
        let reference = |x: &Tensor<D>, [gamma, beta]: [Param<Tensor<1>>; 2]| {
            let norm = nn::GroupNormConfig::new(groups, channels).init(&device);
            nn::GroupNorm { gamma: Some(gamma), beta: Some(beta), ..norm }.forward(x.clone())
        };
        assert_matches(dims, channels, ours, reference);
    }

    fn assert_layer_norm_matches<const D: usize>(dims: [usize; D]) {
        let device = Device::flex().autodiff();
        let features = dims[D - 1];
        let ours = |x: &Tensor<D>, [gamma, beta]: [Param<Tensor<1>>; 2]| {
            LayerNorm { gamma, beta, ..LayerNorm::new(features, &device) }.forward(x.clone())
        };
        let reference = |x: &Tensor<D>, [gamma, beta]: [Param<Tensor<1>>; 2]| {
            let mut norm = nn::LayerNormConfig::new(features).init(&device);
            (norm.gamma, norm.beta) = (gamma, Some(beta));
            norm.forward(x.clone())
        };
        assert_matches(dims, features, ours, reference);
    }

    #[test]
    fn matches_burns_group_norm_and_its_gradients() {
        assert_group_norm_matches([3, 8, 5, 4], 4);
        assert_group_norm_matches([2, 6, 7], 3);
        assert_group_norm_matches([1, 4, 2, 2], 1);
    }

    #[test]
    fn matches_burns_layer_norm_and_its_gradients() {
        assert_layer_norm_matches([3, 5, 16]);
        assert_layer_norm_matches([4, 6]);
    }

    #[test]
    fn frozen_parameters_get_no_gradient_and_the_input_still_does() {
        let device = Device::flex().autodiff();
        let norm = GroupNorm::new(2, 4, &device).no_grad();
        let x = random([2, 4, 3, 3], 0.0, 2.0, 5, &device).require_grad();
        let grads = (norm.forward(x.clone()) * random([2, 4, 3, 3], 0.0, 2.0, 6, &device)).sum().backward();
        assert!(norm.gamma.val().grad(&grads).is_none());
        let g: f32 = x.grad(&grads).expect("an input gradient").abs().sum().into_scalar();
        assert!(g > 0.0);
    }

    /// Without autodiff the composition is burn's own, so models trained with burn's modules
    /// give the same pixels.
    #[test]
    fn inference_on_the_cpu_is_burns_bit_for_bit() {
        let device = Device::flex();
        let x = random([2, 8, 6, 6], 1.0, 2.0, 8, &device);
        let mut reference = nn::GroupNormConfig::new(4, 8).init(&device);
        let [gamma, beta] = [random([8], 1.0, 2.0, 9, &device), random([8], 0.0, 2.0, 10, &device)];
        (reference.gamma, reference.beta) =
            (Some(Param::from_tensor(gamma.clone())), Some(Param::from_tensor(beta.clone())));
        let ours = GroupNorm {
            gamma: Param::from_tensor(gamma),
            beta: Param::from_tensor(beta),
            ..GroupNorm::new(4, 8, &device)
        };
        ours.forward(x.clone()).into_data().assert_eq(&reference.forward(x).into_data(), true);

        let x = random([3, 5, 16], 1.0, 2.0, 11, &device);
        let mut reference = nn::LayerNormConfig::new(16).init(&device);
        let [gamma, beta] = [random([16], 1.0, 2.0, 12, &device), random([16], 0.0, 2.0, 13, &device)];
        (reference.gamma, reference.beta) = (Param::from_tensor(gamma.clone()), Some(Param::from_tensor(beta.clone())));
        let ours = LayerNorm { gamma: Param::from_tensor(gamma), beta: Param::from_tensor(beta), epsilon: 1e-5 };
        ours.forward(x.clone()).into_data().assert_eq(&reference.forward(x).into_data(), true);
    }

    #[test]
    fn each_sample_is_normalised_on_its_own() {
        let device = Device::flex();
        let norm = GroupNorm::new(2, 4, &device);
        let x = random([3, 4, 5, 5], 2.0, 2.0, 7, &device);
        let batch = norm.forward(x.clone());
        let alone = norm.forward(x.slice([1..2]));
        assert!(max_difference(batch.slice([1..2]), alone) < 1e-5);
    }
}
