//! Data parallelism over several devices of one machine with burn's own multi-device tools,
//! the way burn's multi-device learner works: every device gets a fork of the model
//! (`Module::fork`: the same parameters, its own autodiff graph) and an equal share of the
//! batch, and runs forward and backward in a thread of its own; the gradients move to the
//! first device and are summed there (`GradientsAccumulator`).
//! Each share's loss is weighted by its part of the batch, so the sum is the whole batch's
//! gradient and a step equals the one-device step up to float rounding. Each step sends the
//! model to every other device (the generator with its adapters: 13 MB) and brings back only
//! the trained parameters' gradients (the adapters': 4 MB).

use burn::module::{AutodiffModule, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::backend::{Device as _, DeviceId, DeviceOps};
use std::ops::Range;
use std::sync::{mpsc, Arc};

/// One device's part of a step.
pub struct Shard<B: Backend> {
    pub index: usize,
    pub count: usize,
    pub device: B::Device,
}

impl<B: Backend> Shard<B> {
    /// The items of a batch of `n` this shard computes.
    pub fn range(&self, n: usize) -> Range<usize> {
        n * self.index / self.count..n * (self.index + 1) / self.count
    }
}

/// `n` devices of `first`'s kind, from `first` on (on the CPU backend all are the one CPU).
pub fn devices<B: Backend>(first: &B::Device, n: usize) -> Vec<B::Device> {
    let id = first.id();
    (0..n as u16).map(|i| B::Device::from_id(DeviceId::new(id.type_id, id.index_id + i))).collect()
}

/// A step's loss value (no graph) and the gradients of the trained parameters.
pub fn backprop<B: AutodiffBackend, M: AutodiffModule<B>>(loss: Tensor<B, 1>, model: &M) -> (Tensor<B::InnerBackend, 1>, GradientsParams) {
    let value = loss.clone().inner();
    (value, GradientsParams::from_grads(loss.backward(), model))
}

/// burn-cuda 0.21's direct copies between two GPUs (`to_device`, which `Module::fork` and
/// `GradientsParams::to_device` use), issued from the device threads, gave wrong values on two
/// H200s: the second GPU's loss
/// arrived halved and the adapters drifted from the one-GPU run's (relative difference 1.3
/// after 40 steps). Tensors cross devices through the host instead; one already on `device`
/// stays as it is (no copy, no wait for the device).
pub fn via_host<B: Backend, const D: usize>(t: Tensor<B, D>, device: &B::Device) -> Tensor<B, D> {
    if t.device() == *device {
        return t;
    }
    Tensor::from_data(t.into_data(), device)
}

/// `Module::fork` through the host: the same parameters (ids, trainability) on `device`.
fn fork_via_host<B: AutodiffBackend, M: AutodiffModule<B>>(model: M, device: &B::Device) -> M {
    struct Fork<'a, B: Backend>(&'a B::Device);
    impl<B: AutodiffBackend> ModuleMapper<B> for Fork<'_, B> {
        fn map_float<const D: usize>(&mut self, p: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            p.map(|t| {
                let trained = t.is_require_grad();
                let t = via_host(t.detach(), self.0);
                if trained {
                    t.require_grad()
                } else {
                    t
                }
            })
        }
    }
    model.map(&mut Fork::<B>(device))
}

/// `GradientsParams::to_device` through the host.
fn grads_via_host<B: AutodiffBackend, M: AutodiffModule<B>>(mut grads: GradientsParams, model: &M, device: &B::Device) -> GradientsParams {
    struct Move<'a, B: Backend>(&'a mut GradientsParams, GradientsParams, &'a B::Device);
    impl<B: AutodiffBackend> ModuleVisitor<B> for Move<'_, B> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<B, D>>) {
            let id: ParamId = p.id;
            if let Some(g) = self.0.remove::<B::InnerBackend, D>(id) {
                self.1.register(id, via_host(g, self.2));
            }
        }
    }
    let mut visit = Move::<B>(&mut grads, GradientsParams::new(), device);
    model.visit(&mut visit);
    visit.1
}

type Job = Box<dyn FnOnce() + Send>;

/// A loss for one device's share of step `step`: the mean over the shard's items
/// ([`Shard::range`]) computed on `shard.device`.
pub type ShardLoss<B, M> = Arc<dyn Fn(&M, &Shard<B>, usize) -> Tensor<B, 1> + Send + Sync>;

/// [`backprop`] of batches of `batch` items split over `devices`, each device's share computed
/// by a thread of its own that lives as long as this: burn-cuda gives each thread its own
/// stream and memory pool, so a fresh thread per step would strand a pool's memory every step
/// (measured: out of memory on an H200 after 20 steps).
pub struct DataParallel<B: AutodiffBackend, M> {
    devices: Vec<B::Device>,
    workers: Vec<mpsc::Sender<Job>>,
    batch: usize,
    loss: ShardLoss<B, M>,
}

impl<B: AutodiffBackend, M: AutodiffModule<B> + 'static> DataParallel<B, M> {
    pub fn new(devices: Vec<B::Device>, batch: usize, loss: ShardLoss<B, M>) -> Self {
        // one device: the caller's thread, as without data parallelism
        let threads = if devices.len() > 1 { devices.len() } else { 0 };
        let workers = (0..threads)
            .map(|_| {
                let (tx, rx) = mpsc::channel::<Job>();
                std::thread::spawn(move || rx.into_iter().for_each(|job| job()));
                tx
            })
            .collect();
        DataParallel { devices, workers, batch, loss }
    }

    /// Step `step`'s mean loss and gradients, on the first device.
    pub fn backprop(&self, model: &M, step: usize) -> (Tensor<B::InnerBackend, 1>, GradientsParams) {
        let main = &self.devices[0];
        let count = self.devices.len();
        if count == 1 {
            return backprop((self.loss)(model, &Shard { index: 0, count, device: main.clone() }, step), model);
        }
        // every replica is made before any share starts: reading the parameters waits for the
        // device, which would otherwise wait for the share already running there
        let replicas: Vec<M> = self.devices.iter().map(|d| fork_via_host(model.clone(), d)).collect();
        let (tx, rx) = mpsc::channel();
        for (index, ((device, worker), local)) in self.devices.iter().zip(&self.workers).zip(replicas).enumerate() {
            let shard = Shard { index, count, device: device.clone() };
            let (loss, main, tx) = (self.loss.clone(), main.clone(), tx.clone());
            let weight = shard.range(self.batch).len() as f64 / self.batch as f64;
            let job: Job = Box::new(move || {
                let (value, grads) = backprop(loss(&local, &shard, step).mul_scalar(weight), &local);
                let _ = tx.send((index, via_host(value, &main), grads_via_host(grads, &local, &main)));
            });
            worker.send(job).expect("a device's thread stopped after an earlier failure (message above)");
        }
        drop(tx);
        let mut parts: Vec<_> = rx.iter().collect();
        assert_eq!(parts.len(), count, "a device's share of the step failed (message above)");
        parts.sort_by_key(|p| p.0); // a fixed order of summation: runs repeat exactly
        let mut sum = GradientsAccumulator::<M>::new();
        let mut total: Option<Tensor<B::InnerBackend, 1>> = None;
        for (_, value, grads) in parts {
            sum.accumulate(model, grads);
            total = Some(total.map_or(value.clone(), |t| t + value));
        }
        (total.expect("at least one device"), sum.grads())
    }
}
