//! The backends a command can run on: the CPU (burn-flex) always; NVIDIA GPUs through burn's
//! CUDA backend (`--features cuda`) or through LibTorch (`--features tch`: PyTorch's own CUDA
//! kernels, cuDNN and cuBLAS, linked at run time from a PyTorch install); any GPU through
//! burn-wgpu natively (`--features wgpu`), the browser's WebGPU code path. Commands are written
//! once: the device picks the backend at run time.

use anyhow::{bail, Result};
use burn::prelude::{Device, Tensor};

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

/// A command that runs on any of the trainer's backends, given its device with autodiff on
/// (what it trains lives there; what it only runs goes on `device.inner()`).
pub trait OnBackend {
    type Output;
    fn run(self, device: Device, kind: DeviceKind) -> Result<Self::Output>;
}

/// Device `index` of `kind`'s backend (the CPU has one), without autodiff.
#[cfg_attr(not(any(feature = "cuda", feature = "tch", feature = "wgpu")), allow(unused_variables))]
pub fn device(kind: DeviceKind, index: usize) -> Result<Device> {
    match kind {
        DeviceKind::Cpu => Ok(Device::flex()),
        #[cfg(feature = "cuda")]
        DeviceKind::Cuda => Ok(Device::cuda(index)),
        // burn 0.22 deprecates burn-tch for its own backends; LibTorch is the trainer's
        // fastest measured GPU backend (docs/gpu.md), so it stays until burn-cuda is faster
        #[cfg(feature = "tch")]
        #[allow(deprecated)]
        DeviceKind::Torch => Ok(Device::libtorch_cuda(index)),
        #[cfg(feature = "wgpu")]
        DeviceKind::Wgpu => wgpu_device(index),
        #[allow(unreachable_patterns, reason = "reached in builds without some GPU backend")]
        other => bail!("this trainer was built without {}", build_hint(other)),
    }
}

/// What a build lacking `kind`'s backend needs.
fn build_hint(kind: DeviceKind) -> &'static str {
    match kind {
        DeviceKind::Cuda => "burn's CUDA backend: build it with scripts/gpu/build-trainer.sh cuda",
        DeviceKind::Torch => "LibTorch: build it with scripts/gpu/build-trainer.sh",
        DeviceKind::Wgpu => "burn-wgpu: build it with scripts/gpu/build-trainer.sh wgpu",
        DeviceKind::Cpu => "a CPU backend",
    }
}

/// burn-wgpu's adapter (named in the log, since the driver decides what is measured).
#[cfg(feature = "wgpu")]
fn wgpu_device(index: usize) -> Result<Device> {
    use burn::tensor::DeviceKind as Adapter;
    let adapter = if index == 0 { Adapter::DefaultDevice } else { Adapter::DiscreteGpu(index) };
    let (device, setup) = Device::wgpu_options()
        .device_kind(adapter)
        .init_with_setup()
        .map_err(|e| anyhow::anyhow!("burn-wgpu found no usable GPU adapter ({e}); on Linux it needs a Vulkan loader (libvulkan.so.1) and a driver (VK_DRIVER_FILES)"))?;
    let info = setup.adapter.get_info();
    eprintln!("wgpu adapter: {} ({:?}; driver {} {})", info.name, info.backend, info.driver, info.driver_info);
    Ok(device)
}

/// Says whether cubecl keeps compiled kernels and autotune results (scripts/gpu/cubecl.toml),
/// since cubecl ignores a settings file it cannot parse, and without the cache a fresh machine
/// spends many minutes compiling and autotuning before its first step.
#[cfg(feature = "cuda")]
fn report_kernel_cache() {
    use burn::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};
    let config = CubeClRuntimeConfig::get();
    let root = config.environment.path.root();
    if config.compilation.cache {
        eprintln!(
            "cubecl: compiled kernels and autotune results are kept in {} (reused by this exact binary only); shapes missing there are compiled and autotuned before the steps that need them, minutes on a fresh machine, each autotuned shape logged as it is decided",
            root.display()
        );
    } else {
        eprintln!("warning: cubecl's kernel cache is off (no cubecl.toml with `[compilation] cache = true` found from this folder up, or one it cannot parse): every kernel is compiled and autotuned again, many minutes on a fresh machine; scripts/gpu/cubecl.toml turns it on");
    }
}

pub fn dispatch<C: OnBackend>(kind: DeviceKind, command: C) -> Result<C::Output> {
    #[cfg(feature = "cuda")]
    if kind == DeviceKind::Cuda {
        report_kernel_cache();
    }
    if kind == DeviceKind::Torch {
        // cuDNN times its algorithms for each new shape and keeps the fastest, as
        // PyTorch's `cudnn.benchmark` (shapes repeat every step)
        #[cfg(feature = "tch")]
        tch::Cuda::cudnn_set_benchmark(true);
    }
    let device = device(kind, 0)?;
    if kind == DeviceKind::Cpu {
        return command.run(device.autodiff(), kind);
    }
    // GPU backends panic when no GPU or driver is found, and a panic while a model loads aborts
    // the process: a first tensor finds out, and the error says what to check
    let probe = device.clone();
    std::panic::catch_unwind(move || Tensor::<1>::zeros([1], &probe).into_data())
        .map_err(|_| anyhow::anyhow!("{}", gpu_failure(kind)))?;
    let run = std::panic::AssertUnwindSafe(|| command.run(device.autodiff(), kind));
    std::panic::catch_unwind(run).unwrap_or_else(|_| Err(anyhow::anyhow!("{}", gpu_failure(kind))))
}

fn gpu_failure(kind: DeviceKind) -> &'static str {
    match kind {
        DeviceKind::Torch => "LibTorch's CUDA backend failed (message above); is an NVIDIA GPU with its driver present, and PyTorch's libraries on LD_LIBRARY_PATH? Use --device cpu to run on the CPU",
        DeviceKind::Wgpu => "burn-wgpu failed (message above); on Linux it needs a Vulkan loader (libvulkan.so.1) and a driver (VK_DRIVER_FILES)",
        _ => "the CUDA backend failed (message above); is an NVIDIA GPU with its driver present? Use --device cpu to run on the CPU",
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
