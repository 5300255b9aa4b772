//! The generator's linear and convolution layers, each with an optional LoRA adapter
//! (Hu et al. 2021): W x + (alpha / r) B A x, B zero at init. The frozen generator and its
//! LoRA-adapted copies (the noise hypernetwork, the fine-tuning baseline) are one network whose
//! adapters are switched per call. Parameters are named like burn's `Linear` and `Conv2d`
//! (`weight`, `bias`), so adapter-free weights files keep their tensor names.

use crate::ops::conv::conv2d;
use burn::module::{Module, ModuleMapper, Param};
use burn::nn::conv::Conv2dConfig;
use burn::nn::{Initializer, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::ops::ConvOptions;
use serde::{Deserialize, Serialize};

/// Which adapters a forward pass uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Adapters {
    /// The frozen generator.
    Off,
    /// The noise hypernetwork f(z, c): every layer adapted, and the output layer gives only
    /// its LoRA branch, so f = 0 before training.
    Hypernetwork,
    /// The fine-tuning baseline: every layer adapted, the output layer too (base + LoRA).
    FineTune,
}

/// Rank and scale of the adapters, and where a noise hypernetwork made of them works.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    pub rank: usize,
    pub alpha: f32,
    /// A noise hypernetwork's working resolution: f computed on the noise averaged over blocks
    /// down to this many pixels a side and repeated back over each block, for a fraction of a
    /// generator pass (a one-step image's layout lives in the noise's low frequencies:
    /// docs/hypernoise.md). None: at the noise's own resolution, the paper's hypernetwork.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_resolution: Option<usize>,
}

impl LoraConfig {
    pub const MAX_RANK: usize = 1024;

    /// A rank from 1 to [`Self::MAX_RANK`] and a finite, positive alpha (the branch's scale is
    /// alpha / rank: an infinite one makes every image NaN).
    pub fn check(&self) -> Result<(), String> {
        if !(1..=Self::MAX_RANK).contains(&self.rank) {
            return Err(format!("LoRA rank {} is outside 1..={}", self.rank, Self::MAX_RANK));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0 && self.scale().is_finite()) {
            return Err(format!("LoRA alpha {} must be a finite number above 0", self.alpha));
        }
        Ok(())
    }

    fn scale(&self) -> f32 {
        self.alpha / self.rank as f32
    }
}

/// A low-rank update: `down` into `rank` dimensions, then `up` (zero at init), times `scale`.
/// Linear layers: down (in, rank), up (rank, out); convolutions: down (rank, in, k, k), a
/// convolution like the base one, and up (out, rank, 1, 1), applied as one kernel (see
/// [`Conv::delta`]).
#[derive(Module, Debug)]
pub struct Lora<const D: usize> {
    down: Param<Tensor<D>>,
    up: Param<Tensor<D>>,
    scale: f32,
}

impl<const D: usize> Lora<D> {
    /// PEFT's initialisation: Kaiming-uniform (a = sqrt(5)) down projection, zero up projection.
    fn new(down: [usize; D], up: [usize; D], fan_in: usize, config: LoraConfig, device: &Device) -> Self {
        let init = Initializer::KaimingUniform { gain: 1.0 / 3f64.sqrt(), fan_out_only: false };
        Lora {
            down: init.init_with(down, Some(fan_in), None, device),
            up: Initializer::Zeros.init(up, device),
            scale: config.scale(),
        }
    }
}

/// A linear layer, `weight` (in, out) as in burn's `Linear`.
#[derive(Module, Debug)]
pub struct Dense {
    weight: Param<Tensor<2>>,
    bias: Param<Tensor<1>>,
    lora: Option<Lora<2>>,
}

impl Dense {
    pub fn new(d_in: usize, d_out: usize, lora: Option<LoraConfig>, device: &Device) -> Self {
        let base = LinearConfig::new(d_in, d_out).init(device);
        let lora = lora.map(|l| Lora::new([d_in, l.rank], [l.rank, d_out], d_in, l, device));
        Dense { weight: base.weight, bias: base.bias.expect("burn's Linear has a bias by default"), lora }
    }

    /// A layer that starts as zero (an output that must be zero before training), no adapter.
    pub fn zeros(d_in: usize, d_out: usize, device: &Device) -> Self {
        let base = LinearConfig::new(d_in, d_out).with_initializer(Initializer::Zeros).init(device);
        Dense { weight: base.weight, bias: base.bias.expect("burn's Linear has a bias by default"), lora: None }
    }

    fn base<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        x.matmul(self.weight.val().unsqueeze()) + self.bias.val().unsqueeze()
    }

    /// (..., in) -> (..., out); the adapter branch is only computed when it is used.
    pub fn forward<const D: usize>(&self, x: Tensor<D>, adapters: Adapters) -> Tensor<D> {
        match (adapters, &self.lora) {
            (Adapters::Off, _) | (_, None) => self.base(x),
            (_, Some(l)) => {
                self.base(x.clone()) + x.matmul(l.down.val().unsqueeze()).matmul(l.up.val().unsqueeze()) * l.scale
            }
        }
    }
}

/// A square 2-D convolution, `weight` (out, in, k, k) as in burn's `Conv2d`.
#[derive(Module, Debug)]
pub struct Conv {
    weight: Param<Tensor<4>>,
    bias: Param<Tensor<1>>,
    stride: usize,
    padding: usize,
    lora: Option<Lora<4>>,
}

impl Conv {
    /// A k x k convolution with "same" padding (before striding).
    pub fn new(
        cin: usize,
        cout: usize,
        kernel: usize,
        stride: usize,
        lora: Option<LoraConfig>,
        device: &Device,
    ) -> Self {
        Self::with_init(cin, cout, kernel, stride, lora, None, device)
    }

    /// As [`Conv::new`], with a zero base weight (layers that must start as zero).
    pub fn zeros(cin: usize, cout: usize, kernel: usize, lora: Option<LoraConfig>, device: &Device) -> Self {
        Self::with_init(cin, cout, kernel, 1, lora, Some(Initializer::Zeros), device)
    }

    fn with_init(
        cin: usize,
        cout: usize,
        kernel: usize,
        stride: usize,
        lora: Option<LoraConfig>,
        init: Option<Initializer>,
        device: &Device,
    ) -> Self {
        let pad = kernel / 2;
        let mut config = Conv2dConfig::new([cin, cout], [kernel, kernel])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad));
        if let Some(init) = init {
            config = config.with_initializer(init);
        }
        let base = config.init(device);
        let fan_in = cin * kernel * kernel;
        let lora = lora.map(|l| Lora::new([l.rank, cin, kernel, kernel], [cout, l.rank, 1, 1], fan_in, l, device));
        Conv {
            weight: base.weight,
            bias: base.bias.expect("burn's Conv2d has a bias by default"),
            stride,
            padding: pad,
            lora,
        }
    }

    fn options(&self) -> ConvOptions<2> {
        ConvOptions::new([self.stride; 2], [self.padding; 2], [1, 1], 1)
    }

    fn base(&self, x: Tensor<4>) -> Tensor<4> {
        conv2d(x, self.weight.val(), Some(self.bias.val()), self.options())
    }

    /// The adapter's kernel, scale * up * down as one (out, in, k, k) weight: the branch as a
    /// single convolution (as loralib's ConvLoRA), not a rank-r convolution followed by a 1x1
    /// one. Same function, one convolution instead of three kernels and a sum.
    fn delta(&self, l: &Lora<4>) -> Tensor<4> {
        let [cout, cin, k, _] = self.weight.dims();
        let rank = l.down.dims()[0];
        let up = l.up.val().reshape([cout, rank]);
        (up.matmul(l.down.val().reshape([rank, cin * k * k])) * l.scale).reshape([cout, cin, k, k])
    }

    /// The adapter is only applied when it is used.
    pub fn forward(&self, x: Tensor<4>, adapters: Adapters) -> Tensor<4> {
        match (adapters, &self.lora) {
            (Adapters::Off, _) | (_, None) => self.base(x),
            (_, Some(l)) => conv2d(x, self.weight.val() + self.delta(l), Some(self.bias.val()), self.options()),
        }
    }

    /// The output layer: the hypernetwork's output is its LoRA branch alone (zero at init).
    pub fn forward_output(&self, x: Tensor<4>, adapters: Adapters) -> Tensor<4> {
        match (adapters, &self.lora) {
            (Adapters::Hypernetwork, Some(l)) => conv2d(x, self.delta(l), None, self.options()),
            (Adapters::Hypernetwork, None) => {
                panic!("the noise hypernetwork needs adapters (build it with a LoraConfig)")
            }
            _ => self.forward(x, adapters),
        }
    }
}

/// A per-parameter rewrite that knows whether the parameter belongs to an adapter.
pub trait AdapterAwareMap {
    fn map<const D: usize>(&mut self, adapter: bool, p: Param<Tensor<D>>) -> Param<Tensor<D>>;
}

/// Modules whose parameters are what training changes: LoRA branches, and the light and compact
/// noise hypernetworks (`hypernet::light`, `hypernet::compact`: fields named `light` and
/// `compact` beside the frozen generator).
const ADAPTER_MODULES: [&str; 3] = ["lora", "light", "compact"];

/// Applies `m` to every float parameter of `module`, telling it adapter from base parameters.
pub fn map_params<M: Module>(module: M, m: impl AdapterAwareMap) -> M {
    struct Walk<T>(Vec<String>, T);
    impl<T: AdapterAwareMap> ModuleMapper for Walk<T> {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.0.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.0.pop();
        }
        fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let adapter = self.0.iter().any(|n| ADAPTER_MODULES.contains(&n.as_str()));
            self.1.map(adapter, p)
        }
    }
    module.map(&mut Walk(Vec::new(), m))
}

/// Freezes everything but the adapters: only LoRA parameters require gradients, so the
/// backward pass skips the generator's weight gradients and optimisers leave them alone.
pub fn train_adapters_only<M: Module>(module: M) -> M {
    struct Freeze;
    impl AdapterAwareMap for Freeze {
        fn map<const D: usize>(&mut self, adapter: bool, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
            p.set_require_grad(adapter)
        }
    }
    map_params(module, Freeze)
}

/// Whether a parameter path (`unet.stem.lora.up`) belongs to an adapter.
pub fn is_adapter_path(path: &str) -> bool {
    path.split('.').any(|p| ADAPTER_MODULES.contains(&p))
}

/// A copy of `module` whose layers absorb their adapters, W + scale * (up * down) (Dense:
/// down (in, r) then up (r, out); Conv: up (out, r) after down (r, in * k * k)), so that a pass
/// with `Adapters::Off` computes the adapted one at a single network's cost. With
/// `Adapters::Hypernetwork` the layer at path `output` becomes its branch alone (W = delta, no
/// bias), as that role's output layer is. The adapter tensors stay but no longer matter.
pub fn merge_adapters<M: Module>(module: M, config: LoraConfig, role: Adapters, output: &str) -> M {
    use burn::module::ModuleVisitor;
    use std::collections::HashMap;
    /// A layer's (down, up) as matrices, and whether the layer is a convolution.
    type Pair = ([Option<Tensor<2>>; 2], bool);
    /// Layer path -> its pair.
    #[derive(Default)]
    struct Collect(Vec<String>, HashMap<String, Pair>);
    impl ModuleVisitor for Collect {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.0.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.0.pop();
        }
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let Some(i) = self.0.iter().position(|n| n == "lora") else { return };
            let (layer, which) = (self.0[..i].join("."), self.0.last().map(String::as_str));
            let t = p.val();
            let dims = t.dims();
            // Dense: down (in, r), up (r, out); Conv: down (r, in, k, k) -> (r, in*k*k), up (out, r, 1, 1) -> (out, r)
            let m: Tensor<2> = if D == 2 { t.reshape([dims[0], dims[1]]) } else { t.reshape([dims[0] as i64, -1]) };
            let slot = match which {
                Some("down") => 0,
                Some("up") => 1,
                _ => return,
            };
            self.1.entry(layer).or_insert(([None, None], D == 4)).0[slot] = Some(m);
        }
    }
    struct Fold {
        path: Vec<String>,
        deltas: HashMap<String, Tensor<2>>,
        scale: f32,
        branch_only: Option<String>,
    }
    impl ModuleMapper for Fold {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let Some((field, parent)) = self.path.split_last() else { return p };
            let layer = parent.join(".");
            let Some(delta) = self.deltas.get(&layer) else { return p };
            let alone = self.branch_only.as_deref() == Some(layer.as_str());
            p.map(|w| {
                let dims = w.dims();
                match field.as_str() {
                    "weight" => {
                        let d = delta.clone().reshape(dims) * self.scale;
                        if alone {
                            d
                        } else {
                            w + d
                        }
                    }
                    "bias" if alone => w.zeros_like(),
                    _ => w,
                }
            })
        }
    }
    let mut collect = Collect::default();
    module.visit(&mut collect);
    let deltas = collect
        .1
        .into_iter()
        .filter_map(|(layer, ([down, up], conv))| {
            let (down, up) = (down?, up?);
            // Dense: (in, r) x (r, out) = (in, out); Conv: (out, r) x (r, in*k*k)
            Some((layer, if conv { up.matmul(down) } else { down.matmul(up) }))
        })
        .collect();
    let branch_only = (role == Adapters::Hypernetwork).then(|| output.to_string());
    module.map(&mut Fold { path: Vec::new(), deltas, scale: config.scale(), branch_only })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    /// The one-kernel adapter is the textbook two-step branch: a rank-r convolution like the
    /// base one, then a 1x1 convolution to the output channels, times alpha / r.
    #[test]
    fn convolution_adapter_as_one_kernel_is_the_two_step_branch() {
        let dev = Device::flex();
        let lora = LoraConfig { rank: 3, alpha: 6.0, offset_resolution: None };
        for stride in [1, 2] {
            let mut conv = Conv::new(4, 5, 3, stride, Some(lora), &dev);
            let l = conv.lora.as_mut().unwrap();
            l.up = Param::from_tensor(Tensor::random([5, 3, 1, 1], Distribution::Normal(0.0, 1.0), &dev));
            let x = Tensor::<4>::random([2, 4, 8, 8], Distribution::Normal(0.0, 1.0), &dev);
            let l = conv.lora.as_ref().unwrap();
            let h = conv2d(x.clone(), l.down.val(), None, conv.options());
            let branch = conv2d(h, l.up.val(), None, ConvOptions::new([1, 1], [0, 0], [1, 1], 1)) * 2.0;
            let close = |a: Tensor<4>, b: Tensor<4>| (a - b).abs().max().into_scalar::<f32>() < 1e-4;
            assert!(branch.clone().abs().max().into_scalar::<f32>() > 0.1, "the branch is not trivially zero");
            assert!(
                close(conv.forward(x.clone(), Adapters::FineTune), conv.base(x.clone()) + branch.clone()),
                "stride {stride}"
            );
            assert!(close(conv.forward_output(x.clone(), Adapters::Hypernetwork), branch), "stride {stride}");
            assert!(close(conv.forward(x.clone(), Adapters::Off), conv.base(x)), "stride {stride}");
        }
    }
}
