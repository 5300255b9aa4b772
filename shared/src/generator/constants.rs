//! Constant tensors the generator makes from host data (its coordinate features, its time
//! frequencies), made once per device and kept. A tensor from host data is a copy to the device,
//! and on CUDA (LibTorch) that copy waits for every kernel queued before it: made in every pass
//! (the stem and each attention block's coordinates, the time embedding's frequencies), a `fit`
//! step's copies drained the GPU's queue over and over, so that the host and the GPU took turns
//! instead of working at once (BENCHMARKS.md, "Training speed on a GPU").

use burn::prelude::*;
use std::sync::Mutex;

/// Tensors made so far, by what they are and where.
type Made = Vec<((&'static str, usize), Device, Tensor<4>)>;

static MADE: Mutex<Made> = Mutex::new(Vec::new());

/// The tensor `make` builds for (`name`, `size`) on `device`, built the first time it is asked
/// for there. `make` must depend on nothing else.
pub fn once_per_device(
    name: &'static str,
    size: usize,
    device: &Device,
    make: impl FnOnce() -> TensorData,
) -> Tensor<4> {
    let mut made = MADE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, _, t)) = made.iter().find(|(key, d, _)| *key == (name, size) && d == device) {
        return t.clone();
    }
    let t = Tensor::<4>::from_data(make(), device);
    made.push(((name, size), device.clone(), t.clone()));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The second request is served from the first, and another size is made anew.
    #[test]
    fn builds_once_per_key_and_device() {
        let device = Device::flex();
        let mut builds = 0;
        let mut ask = |size: usize| {
            once_per_device("test-ramp", size, &device, || {
                builds += 1;
                TensorData::new((0..size).map(|i| i as f32).collect::<Vec<_>>(), [1, 1, 1, size])
            })
        };
        let (a, b, c) = (ask(3), ask(3), ask(4));
        assert_eq!(builds, 2);
        a.into_data().assert_eq(&b.into_data(), true);
        assert_eq!(c.dims(), [1, 1, 1, 4]);
    }
}
