//! Each training step's inputs (its noise and prompt tokens), put on a device a block of steps at
//! a time. A tensor made from host data is a copy to the device, and on CUDA (LibTorch) that copy
//! waits for every kernel queued before it: with one copy a step, the host waited once a step for
//! the GPU to finish the step before, where it could have issued the next one meanwhile
//! (BENCHMARKS.md, "Training speed on a GPU"). One copy a block leaves one wait a block.

use hypernoise::pipeline::Inputs;
use std::ops::Range;
use std::sync::{Mutex, PoisonError};

/// Steps whose inputs go to a device in one copy: at fit's batch of 64 on 64 x 64 noise, 100 MB
/// of device memory.
pub const BLOCK: usize = 32;

/// The block of steps each shard (device) holds now, by its first step.
pub struct StepInputs {
    held: Vec<Mutex<Option<(usize, Inputs)>>>,
}

impl StepInputs {
    pub fn new(shards: usize) -> Self {
        StepInputs { held: (0..shards).map(|_| Mutex::new(None)).collect() }
    }

    /// Step `step`'s inputs on shard `shard`; `make` builds a block's: the inputs of its steps,
    /// one after another, each step's as many items as the others'.
    pub fn at(&self, shard: usize, step: usize, make: impl FnOnce(Range<usize>) -> Inputs) -> Inputs {
        let first = step - step % BLOCK;
        let mut held = self.held[shard].lock().unwrap_or_else(PoisonError::into_inner);
        let inputs = match &*held {
            Some((start, inputs)) if *start == first => inputs,
            _ => &held.insert((first, make(first..first + BLOCK))).1,
        };
        let per_step = inputs.noise.dims()[0] / BLOCK;
        inputs.items((step - first) * per_step, per_step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::prelude::*;

    /// Each step's items are those the step would have made alone, and a block is made once.
    #[test]
    fn a_step_gets_its_own_items_from_its_block() {
        let device = Device::flex();
        let prompts = ["a red circle", "two blue squares"];
        let seeds_of = |step: usize| [step as u64 * 10, step as u64 * 10 + 1];
        let alone = |step: usize| Inputs::new(&prompts, &seeds_of(step), 4, &device).unwrap();
        let made = std::cell::Cell::new(0);
        let block = |steps: Range<usize>| {
            made.set(made.get() + 1);
            let seeds: Vec<u64> = steps.clone().flat_map(seeds_of).collect();
            let texts: Vec<&str> = steps.flat_map(|_| prompts).collect();
            Inputs::new(&texts, &seeds, 4, &device).unwrap()
        };
        let inputs = StepInputs::new(2);
        for (shard, step) in [(0, 3), (0, BLOCK - 1), (1, 5), (0, BLOCK + 2), (0, 7)] {
            let (got, want) = (inputs.at(shard, step, block), alone(step));
            got.noise.into_data().assert_eq(&want.noise.into_data(), true);
            got.tokens.into_data().assert_eq(&want.tokens.into_data(), true);
        }
        // shard 0: the first block, the second, the first again; shard 1 its own first block
        assert_eq!(made.get(), 4);
    }
}
