//! Data parallelism over several devices of one machine, the way PyTorch's
//! DistributedDataParallel works: every device holds a replica of the model and of the
//! optimizer's state and computes its equal share of each batch in a thread of its own (the
//! first device in the caller's); all-reduces ([`Group`]: NCCL on CUDA) sum the shares'
//! gradients, so every replica makes the same update and they stay equal. Only the
//! first step moves anything through the host: the model and the optimizer state, to the
//! other devices. Each share's loss is weighted by its part of the batch, so the sum is the
//! whole batch's gradient and a step equals the one-device step up to float rounding.

use super::collective::Group;
use super::optimizer::Optimizer;
use super::step::{update, StepAt, Stepper};
use crate::backend::DeviceKind;
use anyhow::Result;
use burn::module::{ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{mpsc, Arc, Mutex};

/// One device's part of a step.
pub struct Shard {
    pub index: usize,
    pub count: usize,
    pub device: Device,
}

impl Shard {
    /// The items of a batch of `n` this shard computes.
    pub fn range(&self, n: usize) -> Range<usize> {
        n * self.index / self.count..n * (self.index + 1) / self.count
    }
}

/// `n` devices of `first`'s kind, from `first` on, with autodiff (on the CPU all are the one CPU).
pub fn devices(first: &Device, kind: DeviceKind, n: usize) -> Result<Vec<Device>> {
    let others = (1..n).map(|i| Ok(crate::backend::device(kind, i)?.autodiff()));
    std::iter::once(Ok(first.clone())).chain(others).collect()
}

/// A device's share of step `step`: its loss, the mean over the shard's items
/// ([`Shard::range`]), and values to log, means over the same items; on `shard.device`.
pub type ShardLoss<M> = Arc<dyn Fn(&M, &Shard, usize) -> (Tensor<1>, Tensor<1>) + Send + Sync>;

/// A worker's replica of the model and the optimizer (none before the first step).
type Replica<M, O> = Option<(M, O)>;
type Job<M, O> = Box<dyn FnOnce(&mut Replica<M, O>) + Send>;

/// Batches of `batch` items split over `devices`. The threads live as long as this: burn-cuda
/// gives each thread its own stream and memory pool, so a fresh thread per step would strand a
/// pool's memory every step (measured: out of memory on an H200 after 20 steps).
pub struct DataParallel<M, O> {
    devices: Vec<Device>,
    group: Arc<Group>,
    /// devices 1.. (device 0 is the caller's thread)
    workers: Vec<mpsc::Sender<Job<M, O>>>,
    replicated: bool,
    batch: usize,
    loss: ShardLoss<M>,
    /// each step's logged values (the whole batch's means), on the first device
    logged: Arc<Mutex<Vec<Tensor<1>>>>,
}

impl<M: Module + 'static, O: Optimizer> DataParallel<M, O> {
    pub fn new(
        devices: Vec<Device>,
        kind: DeviceKind,
        batch: usize,
        loss: ShardLoss<M>,
        logged: Arc<Mutex<Vec<Tensor<1>>>>,
    ) -> Result<Self> {
        let group = Arc::new(Group::new(&devices, kind)?);
        let workers = devices[1..]
            .iter()
            .map(|_| {
                let (tx, rx) = mpsc::channel::<Job<M, O>>();
                std::thread::spawn(move || {
                    let mut replica = None;
                    for job in rx {
                        // the other devices wait for this one's part of the all-reduce forever
                        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut replica))).is_err() {
                            eprintln!("error: a device's share of a training step failed (message above); the last checkpoint is kept");
                            std::process::exit(1);
                        }
                    }
                });
                tx
            })
            .collect();
        let replicated = devices.len() == 1;
        Ok(DataParallel { devices, group, workers, replicated, batch, loss, logged })
    }

    fn share(&self, index: usize) -> Share<M> {
        let shard = Shard { index, count: self.devices.len(), device: self.devices[index].clone() };
        Share { shard, batch: self.batch, loss: self.loss.clone(), group: self.group.clone() }
    }

    /// Copies the model and the optimizer state (as the run's first step finds them: fresh or
    /// resumed) to the other devices.
    fn replicate(&mut self, model: &M, optim: &O) {
        let state = optim.to_bytes().expect("the optimizer state serialises");
        for (device, worker) in self.devices[1..].iter().zip(&self.workers) {
            let replica = fork_via_host(model.clone(), device);
            let optim = optim.clone().with_bytes(state.clone()).expect("the optimizer state loads");
            let _ = worker.send(Box::new(move |r| *r = Some((replica, optim))));
        }
        self.replicated = true;
    }
}

impl<M: Module + 'static, O: Optimizer> Stepper<M, O> for DataParallel<M, O> {
    fn step(&mut self, model: M, optim: &mut O, at: StepAt) -> (M, Tensor<1>) {
        if !self.replicated {
            self.replicate(&model, optim);
        }
        for (index, worker) in self.workers.iter().enumerate() {
            let share = self.share(index + 1);
            let job: Job<M, O> = Box::new(move |replica| {
                let (model, mut optim) = replica.take().expect("replicated before the first step");
                let (model, _, _) = share.step(model, &mut optim, at);
                *replica = Some((model, optim));
            });
            worker.send(job).expect("a device's thread stopped after an earlier failure (message above)");
        }
        let (model, loss, logged) = self.share(0).step(model, optim, at);
        self.logged.lock().expect("logged").push(logged);
        (model, loss)
    }
}

/// One device's share of a step, with what it needs to run in that device's thread.
struct Share<M> {
    shard: Shard,
    batch: usize,
    loss: ShardLoss<M>,
    group: Arc<Group>,
}

impl<M: Module> Share<M> {
    /// This device's update, its share's loss and logged values summed with the others'.
    fn step<O: Optimizer>(&self, model: M, optim: &mut O, at: StepAt) -> (M, Tensor<1>, Tensor<1>) {
        let (loss, logged) = (self.loss)(&model, &self.shard, at.step);
        if self.shard.count == 1 {
            let (model, value) = update(model, optim, loss, at);
            return (model, value, logged);
        }
        let weight = self.shard.range(self.batch).len() as f64 / self.batch as f64;
        let loss = loss.mul_scalar(weight);
        let values = Tensor::cat(vec![loss.clone().inner(), logged.mul_scalar(weight)], 0);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let (values, grads) = all_reduce(&model, values, grads, &self.group, &self.shard);
        let n = values.dims()[0];
        (optim.apply(model, grads, at), values.clone().narrow(0, 0, 1), values.narrow(0, 1, n - 1))
    }
}

/// PyTorch DDP's bucket size: gradients are summed in flat buffers of up to this many bytes, one
/// collective each, rather than one collective per tensor (86 for the LoRA hypernetwork). An NCCL
/// launch costs 10-20 us of host time however small its message, while bytes cost little here
/// (docs/scale-out.md): the 4.2 MB of adapters go in one bucket.
const BUCKET_BYTES: usize = 25 << 20;

/// Sums `values` and the trained parameters' gradients over the devices: the gradients
/// flattened, in the order every replica visits its parameters, and summed a bucket at a time.
fn all_reduce<M: Module>(
    model: &M,
    values: Tensor<1>,
    mut grads: GradientsParams,
    group: &Group,
    shard: &Shard,
) -> (Tensor<1>, GradientsParams) {
    struct Take<'a>(&'a mut GradientsParams, Vec<(ParamId, Shape, Tensor<1>)>);
    impl ModuleVisitor for Take<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            if let Some(g) = self.0.remove::<D>(p.id) {
                let shape = g.shape();
                self.1.push((p.id, shape.clone(), g.reshape([shape.num_elements()])));
            }
        }
    }
    let mut taken = Take(&mut grads, Vec::new());
    model.visit(&mut taken);
    let flat = taken.1;
    let lengths: Vec<usize> = flat.iter().map(|(_, shape, _)| shape.num_elements()).collect();
    let mut summed = HashMap::new();
    for bucket in buckets(&lengths, BUCKET_BYTES / size_of::<f32>()) {
        let parts = flat[bucket.clone()].iter().map(|(_, _, g)| g.clone()).collect();
        let sum = group.all_reduce_sum(shard.index, Tensor::cat(parts, 0));
        let mut at = 0;
        for (id, shape, _) in &flat[bucket] {
            let n = shape.num_elements();
            summed.insert(*id, (shape.clone(), sum.clone().narrow(0, at, n)));
            at += n;
        }
    }
    struct Put<'a>(&'a mut GradientsParams, HashMap<ParamId, (Shape, Tensor<1>)>);
    impl ModuleVisitor for Put<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            if let Some((shape, g)) = self.1.remove(&p.id) {
                self.0.register(p.id, g.reshape::<D, _>(shape));
            }
        }
    }
    model.visit(&mut Put(&mut grads, summed));
    let values = group.all_reduce_sum_settled(shard.index, values);
    (values, grads)
}

/// Consecutive runs of tensors (by their lengths) holding at most `limit` values each; a tensor
/// longer than `limit` is a run of its own.
fn buckets(lengths: &[usize], limit: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut filled) = (0, 0);
    for (i, &n) in lengths.iter().enumerate() {
        if i > start && filled + n > limit {
            out.push(start..i);
            (start, filled) = (i, 0);
        }
        filled += n;
    }
    if start < lengths.len() {
        out.push(start..lengths.len());
    }
    out
}

/// burn-cuda 0.21's direct copies between two GPUs (`to_device`, which `Module::fork` uses),
/// issued from the device threads, gave wrong values on two H200s: the second GPU's loss
/// arrived halved and the adapters drifted from the one-GPU run's (relative difference 1.3
/// after 40 steps). The replicas are made through the host instead.
fn fork_via_host<M: Module>(model: M, device: &Device) -> M {
    struct Fork<'a>(&'a Device);
    impl ModuleMapper for Fork<'_> {
        fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
            p.map(|t| {
                let trained = t.is_require_grad();
                let t = Tensor::from_data(t.detach().into_data(), self.0);
                if trained {
                    t.require_grad()
                } else {
                    t
                }
            })
        }
    }
    model.map(&mut Fork(device))
}

#[cfg(test)]
mod tests {
    use super::buckets;

    #[test]
    fn buckets_fill_in_order_and_a_large_tensor_stands_alone() {
        assert_eq!(buckets(&[3, 4, 5, 2, 1], 8), vec![0..2, 2..5]);
        assert_eq!(buckets(&[3, 20, 2], 8), vec![0..1, 1..2, 2..3]);
        assert_eq!(buckets(&[3, 4], 100), vec![0..2]);
        assert!(buckets(&[], 8).is_empty());
    }
}
