//! Attention, softmax(q k^T / sqrt(d)) v, as one graph node under autodiff with its own
//! backward pass.
//!
//! Without autodiff burn runs each backend's own attention (LibTorch's fused kernel, Flex's),
//! but under autodiff burn 0.22 composes it: a transpose, two matmuls, a scale and a six-step
//! softmax, eleven tracked operations whose backward passes add some twenty more. The generator
//! runs 12 attentions a pass (self- and cross-attention in each of its five attention blocks,
//! and the prompt encoder's two layers), and a `fit` step two passes forward and backward. Here
//! the forward pass is four operations that keep the attention probabilities p (two matmuls, a
//! scale and the backend's softmax) and the backward pass the closed form: dv = p^T g,
//! dp = g v^T, ds = softmax's backward (LibTorch's kernel), dq = ds k / sqrt(d),
//! dk = ds^T q / sqrt(d), each computed only for the inputs that need it (in the frozen
//! generator's pass, cross-attention's keys and values come from the untracked prompt encoding).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex, Scalar, TensorMetadata};
use burn::prelude::*;
use burn::tensor::ops::AttentionModuleOptions;

/// Attention of queries `q` (B, heads, N, d) to keys `k` and values `v` (B, heads, M, d),
/// scaled by 1 / sqrt(d), without a mask.
pub fn attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>) -> Tensor<4> {
    let [q, k, v] = [q, k, v].map(|t| t.into_dispatch());
    Tensor::from_dispatch(<Dispatch as AttentionOps>::attention(q, k, v))
}

/// The operation, for every backend a [`Device`] may name. The default bodies are burn's
/// operations, for the backends without a kernel of their own.
#[backend_extension(
    Flex,
    LibTorch: cfg(feature = "tch"),
    Cube: cfg(any(feature = "cuda", feature = "webgpu")),
    Autodiff
)]
pub trait AttentionOps: Backend {
    /// The backend's own attention (burn's `module::attention`).
    fn attention(q: FloatTensor<Self>, k: FloatTensor<Self>, v: FloatTensor<Self>) -> FloatTensor<Self> {
        <Self as ModuleOps<Self>>::attention(q, k, v, None, None, AttentionModuleOptions::default())
    }

    /// The output with the attention probabilities p (B, heads, N, M), which the backward pass
    /// reads.
    fn attention_with_probabilities(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let scale = scale_of::<Self>(&q);
        let scores = Self::float_mul_scalar(Self::float_matmul(q, Self::float_transpose(k)), scale);
        let p = Self::softmax(scores, 3);
        (Self::float_matmul(p.clone(), v), p)
    }

    /// The gradient of the softmax's input for its output `p` and the output's gradient `grad`,
    /// along the last dimension: p * (grad - sum(grad * p)).
    fn softmax_backward(p: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let weighted = Self::float_sum_dim(Self::float_mul(grad.clone(), p.clone()), 3);
        Self::float_mul(p, Self::float_sub(grad, weighted))
    }
}

/// 1 / sqrt(d) for queries (B, heads, N, d), as burn's attention scales.
fn scale_of<B: Backend>(q: &FloatTensor<B>) -> Scalar {
    Scalar::Float(1.0 / (q.shape()[3] as f64).sqrt())
}

impl AttentionOps for Flex {}

#[cfg(any(feature = "cuda", feature = "webgpu"))]
impl AttentionOps for burn::backend::Cube {}

/// LibTorch's softmax backward kernel: one launch instead of four.
#[cfg(feature = "tch")]
impl AttentionOps for burn::backend::LibTorch {
    fn softmax_backward(p: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let kind = p.tensor.kind();
        let ds = tch::Tensor::internal_softmax_backward_data(&grad.tensor, &p.tensor, 3, kind);
        burn::backend::libtorch::TchTensor::new(ds)
    }
}

/// One graph node keeping q, k, v and p, whose backward pass is the closed form.
impl<B: AttentionOps, C: CheckpointStrategy> AttentionOps for Autodiff<B, C> {
    fn attention(q: FloatTensor<Self>, k: FloatTensor<Self>, v: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct AttentionBackward;

        /// q, k, v and the attention probabilities.
        type Saved<B> = [FloatTensor<B>; 4];

        impl<B: AttentionOps> Backward<B, 3> for AttentionBackward {
            type State = Saved<B>;

            fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
                let [node_q, node_k, node_v] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let [q, k, v, p] = ops.state;
                if let Some(node) = node_v {
                    grads.register::<B>(node.id, B::float_matmul(B::float_transpose(p.clone()), grad.clone()));
                }
                if node_q.is_none() && node_k.is_none() {
                    return;
                }
                let scale = scale_of::<B>(&q);
                let dp = B::float_matmul(grad, B::float_transpose(v));
                let ds = B::float_mul_scalar(B::softmax_backward(p, dp), scale);
                if let Some(node) = node_q {
                    grads.register::<B>(node.id, B::float_matmul(ds.clone(), k));
                }
                if let Some(node) = node_k {
                    grads.register::<B>(node.id, B::float_matmul(B::float_transpose(ds), q));
                }
            }
        }

        let prepared = AttentionBackward.prepare::<C>([q.node(), k.node(), v.node()]).compute_bound().stateful();
        let [q, k, v] = [q, k, v].map(|t| t.into_primitive());
        match prepared {
            OpsKind::Tracked(prep) => {
                let (out, p) = B::attention_with_probabilities(q.clone(), k.clone(), v.clone());
                prep.finish([q, k, v, p], out)
            }
            OpsKind::UnTracked(prep) => prep.finish(<B as AttentionOps>::attention(q, k, v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{max_difference, random};
    use burn::tensor::module;

    /// Output and the three gradients against burn's own attention under autodiff, with
    /// queries and keys of different lengths and a loss that weighs every output differently.
    #[test]
    fn matches_burns_attention_and_its_gradients() {
        let device = Device::flex().autodiff();
        let [q, k, v] = [([2, 3, 5, 4], 1), ([2, 3, 7, 4], 2), ([2, 3, 7, 4], 3)]
            .map(|(dims, seed)| random(dims, 0.0, 2.0, seed, &device).require_grad());
        let weights = random([2, 3, 5, 4], 0.0, 2.0, 4, &device);
        let ours = attention(q.clone(), k.clone(), v.clone());
        let reference =
            module::attention(q.clone(), k.clone(), v.clone(), None, None, AttentionModuleOptions::default());
        assert!(max_difference(ours.clone(), reference.clone()) < 1e-5, "outputs differ");
        let grads = (ours * weights.clone()).sum().backward();
        let grads_ref = (reference * weights).sum().backward();
        for (name, t) in [("q", &q), ("k", &k), ("v", &v)] {
            let gap = max_difference(t.grad(&grads).unwrap(), t.grad(&grads_ref).unwrap());
            assert!(gap < 1e-5, "{name} gradients differ by {gap}");
        }
    }

    /// Cross-attention to a frozen context: the queries get their gradient, the keys and values
    /// none.
    #[test]
    fn only_tracked_inputs_get_gradients() {
        let device = Device::flex().autodiff();
        let q = random([1, 2, 6, 4], 0.0, 2.0, 5, &device).require_grad();
        let [k, v] = [6, 7].map(|seed| random([1, 2, 3, 4], 0.0, 2.0, seed, &device));
        let grads =
            (attention(q.clone(), k.clone(), v.clone()) * random([1, 2, 6, 4], 0.0, 2.0, 8, &device)).sum().backward();
        assert!(k.grad(&grads).is_none() && v.grad(&grads).is_none());
        let g: f32 = q.grad(&grads).expect("a query gradient").abs().sum().into_scalar();
        assert!(g > 0.0);
    }
}
