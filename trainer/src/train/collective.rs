//! Summing tensors over the devices of a data-parallel run: each device's thread calls with
//! its own parts, the same tensors in the same order, and all get the same sums.
//! On burn-cuda this is NCCL's all-reduce through burn's collective operations; on the CPU,
//! whose "devices" are one device, and on LibTorch and burn-wgpu, whose backends have no
//! all-reduce in burn, the parts meet in host memory.

use crate::backend::DeviceKind;
use anyhow::Result;
use burn::prelude::*;
use std::sync::{Barrier, Mutex};

/// What the devices of one run share.
pub enum Group {
    Host(HostSum),
    #[cfg(feature = "cuda")]
    Nccl(nccl::Nccl),
}

impl Group {
    pub fn new(devices: &[Device], kind: DeviceKind) -> Result<Self> {
        match kind {
            #[cfg(feature = "cuda")]
            DeviceKind::Cuda => Ok(Group::Nccl(nccl::Nccl::new(devices)?)),
            _ => Ok(Group::Host(HostSum::new(devices.len()))),
        }
    }

    /// The sum over the group of every device's `part` (same shape on all), on this device;
    /// to be read only after a [`Group::all_reduce_sum_settled`] that follows it.
    pub fn all_reduce_sum<const D: usize>(&self, rank: usize, part: Tensor<D>) -> Tensor<D> {
        match self {
            Group::Host(host) => host.all_reduce_sum(rank, part),
            #[cfg(feature = "cuda")]
            Group::Nccl(nccl) => nccl.all_reduce_sum(part),
        }
    }

    /// The step's last sum: as [`Group::all_reduce_sum`], and once it is returned every earlier
    /// sum of this device may be read too.
    pub fn all_reduce_sum_settled<const D: usize>(&self, rank: usize, part: Tensor<D>) -> Tensor<D> {
        match self {
            Group::Host(host) => host.all_reduce_sum(rank, part),
            #[cfg(feature = "cuda")]
            Group::Nccl(nccl) => nccl.all_reduce_sum_settled(part),
        }
    }
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

    fn all_reduce_sum<const D: usize>(&self, rank: usize, part: Tensor<D>) -> Tensor<D> {
        let (device, shape) = (part.device(), part.shape());
        let values = part.into_data().try_to_vec::<f32>().expect("f32 parts");
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

#[cfg(feature = "cuda")]
#[allow(unsafe_code, reason = "NCCL's presence and its all-reduce results are reached through unsafe APIs")]
mod nccl {
    use anyhow::{ensure, Result};
    use burn::prelude::*;
    use burn::tensor::distributed::{all_reduce, ReduceOperation};

    pub struct Nccl {
        devices: Vec<Device>,
    }

    impl Nccl {
        pub fn new(devices: &[Device]) -> Result<Self> {
            // burn-cuda's device threads would panic on a missing NCCL and leave the others waiting
            // SAFETY: only loads the library to see whether it is there
            let present = devices.len() == 1 || unsafe { cudarc::nccl::sys::is_culib_present() };
            ensure!(present, "--devices {} needs NCCL, and libnccl.so is not on LD_LIBRARY_PATH (PyTorch's nvidia-nccl wheel ships it as libnccl.so.2: link it as libnccl.so; scripts/gpu/common.sh does)", devices.len());
            Ok(Nccl { devices: devices.iter().map(|d| d.clone().inner()).collect() })
        }

        pub fn all_reduce_sum<const D: usize>(&self, part: Tensor<D>) -> Tensor<D> {
            let reduced = all_reduce(part, ReduceOperation::Sum, self.devices.clone());
            // SAFETY: read only after the step's settled sum (the group's contract), whose
            // resolution waits for every collective of the device
            unsafe { reduced.assume_resolved() }
        }

        pub fn all_reduce_sum_settled<const D: usize>(&self, part: Tensor<D>) -> Tensor<D> {
            all_reduce(part, ReduceOperation::Sum, self.devices.clone()).resolve()
        }
    }
}
