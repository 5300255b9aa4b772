//! The weights loader against damaged files: the shipped generator's, adapters' and reward's
//! bytes mutated in their header (length prefix, JSON, architecture config) and in their tensor
//! data, and cut short. Every case must end in a result (a model, or an error), never a panic,
//! and no case may allocate much more than loading the intact file does: a config is bounded
//! before the network it describes is built.

use hypernoise::generator::Generator;
use hypernoise::pipeline::Pipeline;
use hypernoise::reward::RewardModel;
use hypernoise_tests::shipped;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts the bytes allocated now and the most at once since the last `reset`.
struct Counting;

static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// measuring allocation needs a global allocator, whose trait is unsafe to implement
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = NOW.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: forwards the caller's layout to the system allocator unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        NOW.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes allocated at most while `f` runs, beyond what was allocated before.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = NOW.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(before))
}

/// A small deterministic generator of mutation sites and values (xorshift).
struct Mutations(u64);

impl Mutations {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The file's bytes with `count` bytes in `range` replaced: half by digits and JSON punctuation
/// (so that a mutated header often stays JSON and reaches the config checks), half at random.
fn mutated(bytes: &[u8], range: std::ops::Range<usize>, count: usize, m: &mut Mutations) -> Vec<u8> {
    const JSONISH: &[u8] = b"0123456789019,[]{}\":-.e";
    let mut out = bytes.to_vec();
    for _ in 0..count {
        let at = range.start + m.below(range.len());
        out[at] = if m.next().is_multiple_of(2) { JSONISH[m.below(JSONISH.len())] } else { m.next() as u8 };
    }
    out
}

fn header_end(bytes: &[u8]) -> usize {
    8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize
}

/// Loads every case with `load`, checking that none allocates more than loading the intact
/// file `intact` does plus twice the file's size (a mutated config may describe a somewhat
/// larger network, which is built before its tensors are found not to fit; the config's bounds
/// cap how much larger); returns how many loaded.
fn fuzz(name: &str, intact: &[u8], cases: Vec<Vec<u8>>, load: impl Fn(&[u8]) -> bool) -> usize {
    let (ok, intact_peak) = peak_during(|| load(intact));
    assert!(ok, "the intact {name} file loads");
    let limit = intact_peak + 2 * intact.len();
    let mut loaded = 0;
    for (i, case) in cases.iter().enumerate() {
        let (ok, peak) = peak_during(|| load(case));
        assert!(peak <= limit, "{name} case {i}: allocated {peak} bytes (intact: {intact_peak})");
        loaded += ok as usize;
    }
    loaded
}

/// Header mutations (thousands: most stop at the JSON or the config), a few data mutations and
/// truncations, and length prefixes that point anywhere.
fn cases(bytes: &[u8], headers: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut m = Mutations(seed);
    let end = header_end(bytes);
    let mut cases: Vec<Vec<u8>> = (0..headers).map(|k| mutated(bytes, 8..end, 1 + k % 3, &mut m)).collect();
    cases.extend((0..8).map(|_| mutated(bytes, end..bytes.len(), 4, &mut m)));
    cases.extend((0..8).map(|_| bytes[..m.below(bytes.len())].to_vec()));
    for prefix in [0u64, 1, 7, end as u64 + 1, u64::MAX, u32::MAX as u64] {
        let mut case = bytes.to_vec();
        case[..8].copy_from_slice(&prefix.to_le_bytes());
        cases.push(case);
    }
    cases
}

#[test]
fn damaged_weights_files_give_errors_not_panics_or_huge_allocations() {
    let device = burn::prelude::Device::flex();
    let generator = shipped("generator.safetensors");
    let loaded =
        fuzz("generator", &generator, cases(&generator, 1000, 1), |b| Generator::from_bytes(b, &device).is_ok());
    assert!(loaded < 1000, "mutations are refused ({loaded} loaded)");

    let reward = shipped("reward-s1.safetensors");
    let loaded = fuzz("reward", &reward, cases(&reward, 1000, 2), |b| RewardModel::from_bytes(b, &device).is_ok());
    assert!(loaded < 1000, "mutations are refused ({loaded} loaded)");

    // adapters load on the generator they were trained on
    let adapters = shipped("hypernoise.safetensors");
    let loaded =
        fuzz("adapters", &adapters, cases(&adapters, 100, 3), |b| Pipeline::load(&generator, &[b], &device).is_ok());
    assert!(loaded < 100, "mutations are refused ({loaded} loaded)");
}
