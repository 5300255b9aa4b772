//! im2col convolutions compute what the backend's direct kernels do, values and gradients, for
//! every kernel size, stride and adapter mode the generator uses. Its own test binary: the
//! algorithm is a process-wide setting that the library's tests leave at its default.

use burn::backend::{Autodiff, Flex};
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::Distribution;
use hypernoise::generator::layers::{map_params, set_conv_algorithm, Adapters, AdapterAwareMap, Conv, ConvAlgorithm, LoraConfig};

type B = Autodiff<Flex>;

/// Every parameter drawn afresh, adapters' zero up projections included, so every branch counts.
struct Randomise;
impl<B: Backend> AdapterAwareMap<B> for Randomise {
    fn map<const D: usize>(&mut self, _: bool, p: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        p.map(|t| t.random_like(Distribution::Normal(0.0, 0.3)))
    }
}

/// The gradients of a module's parameters, flattened in visiting order.
struct Grads<'a>(&'a <B as burn::tensor::backend::AutodiffBackend>::Gradients, Vec<Tensor<Flex, 1>>);
impl ModuleVisitor<B> for Grads<'_> {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<B, D>>) {
        if let Some(g) = p.grad(self.0) {
            self.1.push(g.flatten(0, D - 1));
        }
    }
}

/// Output, input gradient and parameter gradients of one pass under `algorithm`.
fn pass(conv: &Conv<B>, x: &Tensor<B, 4>, adapters: Adapters, output_layer: bool, algorithm: ConvAlgorithm) -> Vec<Tensor<Flex, 1>> {
    set_conv_algorithm(algorithm);
    let x = x.clone().require_grad();
    let y = if output_layer { conv.forward_output(x.clone(), adapters) } else { conv.forward(x.clone(), adapters) };
    // squared, so each output element's gradient is its own value
    let grads = (y.clone() * y.clone()).sum().backward();
    let mut visitor = Grads(&grads, vec![y.inner().flatten(0, 3), x.grad(&grads).expect("input gradient").flatten(0, 3)]);
    conv.visit(&mut visitor);
    visitor.1
}

#[test]
fn im2col_matches_direct_convolution_values_and_gradients() {
    let device = Default::default();
    let lora = LoraConfig { rank: 3, alpha: 6.0 };
    for (kernel, stride, size) in [(3, 1, 9), (3, 2, 9), (3, 2, 8), (1, 1, 7)] {
        let conv = map_params(Conv::<B>::new(5, 7, kernel, stride, Some(lora), &device), Randomise);
        let x = Tensor::<B, 4>::random([2, 5, size, size], Distribution::Normal(0.0, 1.0), &device);
        for (adapters, output_layer) in [(Adapters::Off, false), (Adapters::FineTune, false), (Adapters::Hypernetwork, false), (Adapters::Hypernetwork, true)] {
            let direct = pass(&conv, &x, adapters, output_layer, ConvAlgorithm::Direct);
            let im2col = pass(&conv, &x, adapters, output_layer, ConvAlgorithm::Im2col);
            assert_eq!(direct.len(), im2col.len());
            // output, input gradient, then each trained parameter's gradient
            for (i, (a, b)) in direct.into_iter().zip(im2col).enumerate() {
                assert_eq!(a.dims(), b.dims(), "k{kernel} s{stride} {adapters:?}: tensor {i}'s shape");
                let scale = a.clone().abs().max().into_scalar().max(1.0);
                let diff = (a - b).abs().max().into_scalar() / scale;
                assert!(diff < 1e-5, "k{kernel} s{stride} size {size} {adapters:?} output-layer {output_layer}: tensor {i} differs by {diff}");
            }
        }
    }
    set_conv_algorithm(ConvAlgorithm::Direct);
}
