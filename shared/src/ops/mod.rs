//! Operations that burn composes of many tensor operations, run here as one backend operation
//! each with its own backward pass (burn backend extensions): under autodiff every composed
//! operation is a graph node, and on LibTorch every one a kernel the host issues while the GPU
//! waits, so these compositions were a large share of a `fit` step (BENCHMARKS.md, "Training
//! speed on a GPU"). Without autodiff the CPU computes the norms, SiLU and attention as burn
//! does, bit for bit; its convolution is burn-flex's arithmetic without burn-flex's layout
//! copies (conv/flex.rs), equal up to float rounding.

// burn-tch is deprecated upstream, yet it is `fit`'s fastest GPU backend (BENCHMARKS.md); the
// allowance covers the modules below
#![cfg_attr(feature = "tch", allow(deprecated))]

pub mod attention;
pub mod conv;
pub mod norm;
pub mod silu;

/// Inputs and comparisons for the operations' tests.
#[cfg(test)]
mod testing {
    use crate::rng::Rng;
    use burn::prelude::*;
    use burn::tensor::TensorData;

    /// Seeded values uniform in `centre` +- `spread`.
    pub fn random<const D: usize>(dims: [usize; D], centre: f32, spread: f32, seed: u64, device: &Device) -> Tensor<D> {
        let mut rng = Rng::new(seed);
        let data: Vec<f32> = (0..dims.iter().product()).map(|_| centre + rng.range(-spread, spread)).collect();
        Tensor::from_data(TensorData::new(data, dims), device)
    }

    pub fn max_difference<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar()
    }
}
