//! The backends a command can run on: the CPU (burn-flex) always; NVIDIA GPUs through burn's
//! CUDA backend (`--features cuda`) or through LibTorch (`--features tch`: PyTorch's own CUDA
//! kernels, cuDNN and cuBLAS, linked at run time from a PyTorch install); any GPU through
//! burn-wgpu natively (`--features wgpu`), the browser's WebGPU code path. Commands are written
//! once, generic over the backend.

use crate::train::collective::Collective;
#[cfg(not(all(feature = "cuda", feature = "tch", feature = "wgpu")))]
use anyhow::bail;
use anyhow::Result;
use burn::backend::{Autodiff, Flex};
use burn::tensor::backend::AutodiffBackend;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceKind {
    Cpu,
    /// An NVIDIA GPU through burn's CUDA backend.
    Cuda,
    /// An NVIDIA GPU through LibTorch.
    Torch,
    /// A GPU through burn-wgpu (Vulkan on Linux): what the page runs on WebGPU.
    Wgpu,
}

impl DeviceKind {
    /// The GPU backend compiled in (LibTorch before burn-cuda), else the CPU.
    pub fn preferred() -> Self {
        if cfg!(feature = "tch") {
            DeviceKind::Torch
        } else if cfg!(feature = "cuda") {
            DeviceKind::Cuda
        } else {
            DeviceKind::Cpu
        }
    }
}

/// An autodiff backend whose devices can sum tensors for data-parallel training.
pub trait TrainBackend: AutodiffBackend<InnerBackend: Collective> {}
impl<B: AutodiffBackend<InnerBackend: Collective>> TrainBackend for B {}

/// A command that runs on any of the trainer's backends.
pub trait OnBackend {
    type Output;
    fn run<B: TrainBackend>(self, device: B::Device, kind: DeviceKind) -> Result<Self::Output>;
}

pub fn dispatch<C: OnBackend>(kind: DeviceKind, command: C) -> Result<C::Output> {
    match kind {
        DeviceKind::Cpu => command.run::<Autodiff<Flex>>(Default::default(), kind),
        #[cfg(feature = "cuda")]
        DeviceKind::Cuda => {
            // set by scripts/gpu/build-trainer.sh, which builds against a fixed cubek-matmul
            if option_env!("HYPERNOISE_CUBEK_K_GUARD_FIXED").is_none() {
                eprintln!("warning: this CUDA trainer was not built by scripts/gpu/build-trainer.sh: cubek-matmul 0.2.0's kernels compute the adapters wrongly (docs/gpu.md); `trainer --device cuda check-device` shows by how much");
            }
            // burn-cuda panics when no GPU or driver is found; say so instead of a backtrace
            let run = std::panic::AssertUnwindSafe(|| {
                command.run::<Autodiff<burn::backend::Cuda<f32, i32>>>(Default::default(), kind)
            });
            std::panic::catch_unwind(run).unwrap_or_else(|_| {
                Err(anyhow::anyhow!("the CUDA backend failed (message above); is an NVIDIA GPU with its driver present? Use --device cpu to run on the CPU"))
            })
        }
        #[cfg(not(feature = "cuda"))]
        DeviceKind::Cuda => {
            bail!("this trainer was built without burn's CUDA backend: build it with scripts/gpu/build-trainer.sh cuda")
        }
        #[cfg(feature = "tch")]
        DeviceKind::Torch => {
            let device = burn_tch::LibTorchDevice::Cuda(0);
            // cuDNN times its algorithms for each new shape and keeps the fastest, as
            // PyTorch's `cudnn.benchmark` (shapes repeat every step)
            tch::Cuda::cudnn_set_benchmark(true);
            // libtorch throws (a Rust panic through tch) when no GPU or driver is found
            let run = std::panic::AssertUnwindSafe(|| command.run::<Autodiff<burn_tch::LibTorch<f32>>>(device, kind));
            std::panic::catch_unwind(run).unwrap_or_else(|_| {
                Err(anyhow::anyhow!("LibTorch's CUDA backend failed (message above); is an NVIDIA GPU with its driver present, and PyTorch's libraries on LD_LIBRARY_PATH? Use --device cpu to run on the CPU"))
            })
        }
        #[cfg(not(feature = "tch"))]
        DeviceKind::Torch => {
            bail!("this trainer was built without LibTorch: build it with scripts/gpu/build-trainer.sh")
        }
        #[cfg(feature = "wgpu")]
        DeviceKind::Wgpu => {
            // wgpu panics when it finds no adapter (no Vulkan loader or driver); say so instead
            let run = std::panic::AssertUnwindSafe(|| {
                use burn::backend::wgpu::{graphics::AutoGraphicsApi, init_setup, WgpuDevice};
                let device = WgpuDevice::DefaultDevice;
                let info = init_setup::<AutoGraphicsApi>(&device, Default::default()).adapter.get_info();
                eprintln!(
                    "wgpu adapter: {} ({:?}; driver {} {})",
                    info.name, info.backend, info.driver, info.driver_info
                );
                command.run::<Autodiff<burn::backend::Wgpu>>(device, kind)
            });
            std::panic::catch_unwind(run).unwrap_or_else(|_| {
                Err(anyhow::anyhow!("burn-wgpu found no usable GPU adapter (message above); on Linux it needs a Vulkan loader (libvulkan.so.1) and a driver (VK_DRIVER_FILES)"))
            })
        }
        #[cfg(not(feature = "wgpu"))]
        DeviceKind::Wgpu => {
            bail!("this trainer was built without burn-wgpu: build it with scripts/gpu/build-trainer.sh wgpu")
        }
    }
}

/// Names the device in logs and benchmark records.
pub fn describe(kind: DeviceKind) -> String {
    match kind {
        DeviceKind::Cpu => {
            format!("cpu (burn-flex, {} threads)", std::thread::available_parallelism().map_or(1, |n| n.get()))
        }
        DeviceKind::Cuda => "cuda (burn-cuda)".into(),
        DeviceKind::Torch => "cuda (burn-tch, LibTorch)".into(),
        DeviceKind::Wgpu => "wgpu (burn-wgpu, native)".into(),
    }
}
