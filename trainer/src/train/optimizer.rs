//! How a step's gradients change the model, and how that state is kept in checkpoints: burn's
//! per-parameter optimizers ([`ModuleOptimizer`]: Adam for every command, SGD in tests), or
//! [`FlatSgd`], fit's SGD with momentum as a few operations on all the trained parameters at once.

use super::clip::{clip_global_norm, flatten_gradients, norm_clip_factor};
use super::step::StepAt;
use anyhow::{bail, Context, Result};
use burn::module::{ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::{Bytes, TensorData};

/// What the step loop, the checkpoints and the data-parallel replicas need of an optimizer.
pub trait Optimizer: Clone + Send + 'static {
    /// Clips the gradients to the global norm `at.clip` (when set), then updates `model` at
    /// `at.lr`.
    fn apply<M: Module>(&mut self, model: M, grads: GradientsParams, at: StepAt) -> M;
    /// The state as bytes (a checkpoint's, or a replica's on another device).
    fn to_bytes(&self) -> Result<Vec<u8>>;
    /// [`Optimizer::to_bytes`]'s state loaded into this optimizer; its tensors move to the
    /// parameters' device at the next step.
    fn with_bytes(self, bytes: Vec<u8>) -> Result<Self>;
}

impl Optimizer for ModuleOptimizer {
    fn apply<M: Module>(&mut self, model: M, grads: GradientsParams, at: StepAt) -> M {
        let grads = match at.clip {
            Some(max_norm) => clip_global_norm(&model, grads, max_norm),
            None => grads,
        };
        self.step(at.lr, model, grads)
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        Ok(self.into_bytes().context("cannot serialise the optimizer")?.to_vec())
    }

    fn with_bytes(self, bytes: Vec<u8>) -> Result<Self> {
        Ok(self.from_bytes(Bytes::from_bytes_vec(bytes))?)
    }
}

/// SGD with momentum (PyTorch's: no dampening, no Nesterov), the same update as burn's
/// `SgdConfig` with that momentum, made on all trained parameters as one flat vector. burn's
/// optimizer issues about five operations per parameter tensor and the clip one more; with the
/// LoRA hypernetwork's ~230 adapter tensors that is over a thousand kernel launches a step, each
/// issued by the host, whose time bounds `fit` on a GPU (BENCHMARKS.md). Here a
/// step is the gradients and the parameters each gathered into one vector, a handful of
/// operations on those, and views of the result as the new parameters.
#[derive(Clone, Debug)]
pub struct FlatSgd {
    momentum: f64,
    /// The momentum buffer, none before the first step. Loaded from bytes it is on the default
    /// device, as burn's optimizers load theirs, and moves to the gradients' at the next step.
    velocity: Option<Tensor<1>>,
}

/// The first bytes of [`FlatSgd`]'s state, so a file of another optimizer is refused by name.
const MAGIC: &[u8; 8] = b"FLATSGD1";

impl FlatSgd {
    pub fn new(momentum: f64) -> Self {
        FlatSgd { momentum, velocity: None }
    }

    /// v <- momentum v + g (v = g at the first step), on `g`'s device.
    fn advance(&mut self, g: Tensor<1>) -> Tensor<1> {
        let n = g.dims()[0];
        let velocity = match self.velocity.take() {
            None => g,
            Some(previous) => {
                let previous = previous.to_device(&g.device());
                assert_eq!(
                    previous.dims()[0],
                    n,
                    "the optimizer's momentum holds {} values for {n} trained parameters: the checkpoint is of another model or damaged; remove it to start over",
                    previous.dims()[0]
                );
                previous.mul_scalar(self.momentum) + g
            }
        };
        self.velocity = Some(velocity.clone());
        velocity
    }
}

impl Optimizer for FlatSgd {
    fn apply<M: Module>(&mut self, model: M, grads: GradientsParams, at: StepAt) -> M {
        let (layout, g) = match flatten_gradients(&model, &grads) {
            Some(flat) => flat,
            None => return model,
        };
        let g = match at.clip {
            Some(max_norm) => g.clone() * norm_clip_factor(&g, max_norm),
            None => g,
        };
        let velocity = self.advance(g);
        let params = flatten_parameters(&model, &layout);
        let updated = params - velocity.mul_scalar(at.lr);
        model.map(&mut Unflatten { layout: &layout, flat: updated, next: 0, offset: 0 })
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        let values = match &self.velocity {
            None => Vec::new(),
            Some(v) => v
                .clone()
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| anyhow::anyhow!("cannot read the momentum: {e:?}"))?,
        };
        let mut bytes = MAGIC.to_vec();
        bytes.extend((self.velocity.is_some() as u64).to_le_bytes());
        bytes.extend((values.len() as u64).to_le_bytes());
        bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        Ok(bytes)
    }

    fn with_bytes(self, bytes: Vec<u8>) -> Result<Self> {
        let Some(rest) = bytes.strip_prefix(MAGIC) else {
            bail!("it is not fit's flat SGD state (a checkpoint of another optimizer, or of a trainer before it)")
        };
        let word = |at: usize| rest.get(at..at + 8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
        let (Some(present), Some(n)) = (word(0), word(8)) else { bail!("its header is truncated") };
        let values = &rest[16..];
        if values.len() as u64 != n.saturating_mul(4) {
            bail!("it says {n} values but holds {} bytes of them", values.len());
        }
        let values: Vec<f32> =
            values.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect();
        let velocity =
            (present == 1).then(|| Tensor::from_data(TensorData::new(values, [n as usize]), &Device::default()));
        Ok(FlatSgd { velocity, ..self })
    }
}

/// The trained parameters (those in `layout`, in its order) as one vector.
fn flatten_parameters<M: Module>(model: &M, layout: &[(ParamId, usize)]) -> Tensor<1> {
    struct Gather<'a> {
        layout: &'a [(ParamId, usize)],
        parts: Vec<Tensor<1>>,
    }
    impl ModuleVisitor for Gather<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if self.layout.get(self.parts.len()).is_some_and(|(id, _)| *id == param.id) {
                self.parts.push(param.val().inner().reshape([-1]));
            }
        }
    }
    let mut gather = Gather { layout, parts: Vec::new() };
    model.visit(&mut gather);
    assert_eq!(
        gather.parts.len(),
        layout.len(),
        "the model's parameters changed order between its gradients and its update"
    );
    Tensor::cat(gather.parts, 0)
}

/// Sets each trained parameter to its stretch of `flat`, as the per-parameter optimizers do:
/// a new leaf that keeps the old one's gradient requirement and checkpointing strategy. (burn's
/// own data parallelism would also mark it distributed; fit's sums gradients itself.)
struct Unflatten<'a> {
    layout: &'a [(ParamId, usize)],
    flat: Tensor<1>,
    next: usize,
    offset: usize,
}

impl ModuleMapper for Unflatten<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(&(_, n)) = self.layout.get(self.next).filter(|(id, _)| *id == param.id) else { return param };
        let (id, old, mapper) = param.consume();
        let mut new = Tensor::from_inner(self.flat.clone().narrow(0, self.offset, n).reshape(old.shape()));
        (self.next, self.offset) = (self.next + 1, self.offset + n);
        if let Some(strategy) = old.gradient_checkpointing_strategy() {
            new = new.with_gradient_checkpointing_strategy(strategy);
        }
        if old.is_require_grad() {
            new = new.require_grad();
        }
        Param::from_mapped_value(id, new, mapper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::momentum::MomentumConfig;
    use burn::optim::SgdConfig;

    /// A frozen layer and a trained one.
    #[derive(Module, Debug)]
    struct Two {
        frozen: Linear,
        trained: Linear,
    }

    fn model() -> Two {
        let device = Device::flex().autodiff();
        Two { frozen: LinearConfig::new(3, 4).init(&device).no_grad(), trained: LinearConfig::new(4, 2).init(&device) }
    }

    /// `steps` steps from `optim`'s state, each on its own input, with gradients large enough
    /// that the clip to norm 1 changes them.
    fn train<O: Optimizer>(mut model: Two, optim: &mut O, steps: std::ops::Range<usize>) -> Two {
        let device = Device::flex().autodiff();
        for step in steps {
            let s = step as f32;
            let x = Tensor::<2>::from_floats([[1.0, -2.0 + s, 0.5], [0.3, 0.1, -1.0 - s]], &device);
            let loss = model.trained.forward(model.frozen.forward(x)).powi_scalar(2).sum() * 30.0;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.apply(model, grads, StepAt { step, lr: 0.05, clip: Some(1.0) });
        }
        model
    }

    fn values(model: &Two) -> Vec<f32> {
        let weights =
            [&model.frozen.weight, &model.trained.weight].map(|w| w.val().into_data().try_to_vec::<f32>().unwrap());
        let biases = [&model.frozen.bias, &model.trained.bias]
            .map(|b| b.as_ref().unwrap().val().into_data().try_to_vec::<f32>().unwrap());
        weights.into_iter().chain(biases).flatten().collect()
    }

    fn burns_sgd() -> ModuleOptimizer {
        SgdConfig::new().with_momentum(Some(MomentumConfig { momentum: 0.9, dampening: 0.0, nesterov: false })).init()
    }

    /// The flat update is burn's SGD with momentum (clipped the same way) to float rounding,
    /// and leaves frozen parameters as they were.
    #[test]
    fn flat_sgd_makes_burns_momentum_update_and_leaves_frozen_parameters() {
        let start = model();
        let flat = train(start.clone(), &mut FlatSgd::new(0.9), 0..4);
        let burns = train(start.clone(), &mut burns_sgd(), 0..4);
        let (flat, burns, start) = (values(&flat), values(&burns), values(&start));
        let moved = flat.iter().zip(&start).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(moved > 0.01, "the trained layer moved by only {moved}");
        for (i, (a, b)) in flat.iter().zip(&burns).enumerate() {
            assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "value {i}: flat {a}, burn's {b}");
        }
        let frozen = 3 * 4;
        assert_eq!(flat[..frozen], start[..frozen], "the frozen weight moved");
    }

    /// Saved after two steps and loaded into a fresh optimizer, the momentum carries the run on
    /// exactly as if it had not stopped.
    #[test]
    fn a_resumed_flat_sgd_continues_the_run_exactly() {
        let start = model();
        let whole = train(start.clone(), &mut FlatSgd::new(0.9), 0..4);
        let mut first = FlatSgd::new(0.9);
        let halfway = train(start, &mut first, 0..2);
        let mut second = FlatSgd::new(0.9).with_bytes(first.to_bytes().unwrap()).unwrap();
        let resumed = train(halfway, &mut second, 2..4);
        assert_eq!(values(&whole), values(&resumed));
        let fresh = FlatSgd::new(0.9).with_bytes(FlatSgd::new(0.9).to_bytes().unwrap()).unwrap();
        assert!(fresh.velocity.is_none(), "a state saved before any step has no momentum");
    }

    /// Truncated state, or burn's optimizer's, is refused with what is wrong with it.
    #[test]
    fn flat_sgd_refuses_a_truncated_or_foreign_state() {
        let mut optim = FlatSgd::new(0.9);
        train(model(), &mut optim, 0..1);
        let bytes = optim.to_bytes().unwrap();
        let short = FlatSgd::new(0.9).with_bytes(bytes[..bytes.len() - 3].to_vec()).unwrap_err();
        assert!(short.to_string().contains("bytes of them"), "{short}");
        let header = FlatSgd::new(0.9).with_bytes(bytes[..12].to_vec()).unwrap_err();
        assert!(header.to_string().contains("header is truncated"), "{header}");
        let mut burns = burns_sgd();
        train(model(), &mut burns, 0..1);
        let foreign = FlatSgd::new(0.9).with_bytes(burns.to_bytes().unwrap()).unwrap_err();
        assert!(foreign.to_string().contains("not fit's flat SGD state"), "{foreign}");
    }
}
