//! Summing tensors over the devices of a data-parallel run: each device's thread calls with
//! its own parts, the same tensors in the same order, and all get the same sums.
//! On burn-cuda this is NCCL's all-reduce through burn-cuda's collective operations; on the CPU,
//! whose "devices" are one device, and on LibTorch, whose NCCL burn does not reach, the parts
//! meet in host memory.

use anyhow::Result;
use burn::backend::Flex;
use burn::prelude::*;
use std::sync::{Barrier, Mutex};

pub trait Collective: Backend {
    /// What the devices of one run share.
    type Group: Send + Sync + 'static;
    fn group(devices: &[Self::Device]) -> Result<Self::Group>;
    /// The sum over the group of every device's `part` (same shape on all), on this device;
    /// to be read only after [`Collective::settle`].
    fn all_reduce_sum<const D: usize>(group: &Self::Group, rank: usize, part: Tensor<Self, D>) -> Tensor<Self, D>;
    /// Makes `device`'s later work wait for its sums.
    fn settle(device: &Self::Device);
}

/// Parts summed in host memory, one slot per device's thread.
pub struct HostSum {
    parts: Mutex<Vec<Option<Vec<f32>>>>,
    barrier: Barrier,
}

impl HostSum {
    fn new(devices: usize) -> Self {
        HostSum { parts: Mutex::new(vec![None; devices]), barrier: Barrier::new(devices) }
    }

    fn all_reduce_sum<B: Backend, const D: usize>(&self, rank: usize, part: Tensor<B, D>) -> Tensor<B, D> {
        let (device, shape) = (part.device(), part.shape());
        let values = part.into_data().to_vec::<f32>().expect("f32 parts");
        self.parts.lock().expect("parts")[rank] = Some(values);
        self.barrier.wait();
        let sum = {
            let parts = self.parts.lock().expect("parts");
            let mut parts = parts.iter().map(|p| p.as_ref().expect("every device gave its part"));
            let mut sum = parts.next().expect("at least one device").clone();
            for p in parts {
                sum.iter_mut().zip(p).for_each(|(s, x)| *s += x); // rank order: the same sum on every device
            }
            sum
        };
        self.barrier.wait(); // all have read before anyone writes the next parts
        Tensor::from_data(TensorData::new(sum, shape), &device)
    }
}

/// A backend whose devices sum their parts in host memory.
macro_rules! host_collective {
    ($backend:ty) => {
        impl Collective for $backend {
            type Group = HostSum;

            fn group(devices: &[Self::Device]) -> Result<HostSum> {
                Ok(HostSum::new(devices.len()))
            }

            fn all_reduce_sum<const D: usize>(group: &HostSum, rank: usize, part: Tensor<Self, D>) -> Tensor<Self, D> {
                group.all_reduce_sum(rank, part)
            }

            fn settle(_: &Self::Device) {}
        }
    };
}

host_collective!(Flex);
#[cfg(feature = "tch")]
host_collective!(burn_tch::LibTorch<f32>);
#[cfg(feature = "wgpu")]
host_collective!(burn::backend::Wgpu);

#[cfg(feature = "cuda")]
#[allow(unsafe_code, reason = "NCCL's presence and its all-reduce results are reached through burn-cuda's unsafe API")]
mod cuda {
    use super::Collective;
    use anyhow::{ensure, Result};
    use burn::backend::Cuda;
    use burn::prelude::*;
    use burn::tensor::backend::distributed::{DistributedBackend, ReduceOperation};
    use burn::tensor::backend::{DeviceId, DeviceOps};
    use burn::tensor::TensorPrimitive;

    impl Collective for Cuda<f32, i32> {
        type Group = Vec<DeviceId>;

        fn group(devices: &[Self::Device]) -> Result<Vec<DeviceId>> {
            // burn-cuda's device threads would panic on a missing NCCL and leave the others waiting
            // SAFETY: only loads the library to see whether it is there
            let nccl = devices.len() == 1 || unsafe { cudarc::nccl::sys::is_culib_present() };
            ensure!(nccl, "--devices {} needs NCCL, and libnccl.so is not on LD_LIBRARY_PATH (PyTorch's nvidia-nccl wheel ships it as libnccl.so.2: link it as libnccl.so; scripts/gpu/common.sh does)", devices.len());
            Ok(devices.iter().map(|d| d.id()).collect())
        }

        fn all_reduce_sum<const D: usize>(
            group: &Vec<DeviceId>,
            _rank: usize,
            part: Tensor<Self, D>,
        ) -> Tensor<Self, D> {
            let reduced = <Self as DistributedBackend>::all_reduce(
                part.into_primitive().tensor(),
                ReduceOperation::Sum,
                group.clone(),
            );
            // SAFETY: read only after `settle` (the trait's contract), which resolves every sum at once
            Tensor::from_primitive(TensorPrimitive::Float(unsafe { reduced.assume_resolved() }))
        }

        fn settle(device: &Self::Device) {
            <Self as DistributedBackend>::sync_collective(device);
        }
    }
}
