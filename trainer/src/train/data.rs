//! Training batches from the world's training compositions. A batch is a pure function of
//! (seed, step), so a resumed run sees exactly the data the uninterrupted run would have.

use hypernoise::rng::Rng;
use hypernoise::text::{self, MAX_TOKENS};
use hypernoise::world::render::render;
use hypernoise::world::split::{prompts, Split};
use hypernoise::world::{Category, PromptSpec, Scene};

/// Task types with compositions in `split` (every lone colourless object is held out of
/// training and validation).
pub fn split_categories(split: Split) -> Vec<Category> {
    Category::ALL.into_iter().filter(|&c| !prompts(split, c).is_empty()).collect()
}

/// Task types with training compositions.
pub fn training_categories() -> Vec<Category> {
    split_categories(Split::Train)
}

/// A training prompt: task type uniformly, then a composition, then one of its two wordings.
pub fn sample_prompt(rng: &mut Rng, categories: &[Category]) -> PromptSpec {
    let category = *rng.pick(categories);
    let spec = rng.pick(prompts(Split::Train, category)).clone();
    if rng.unit() < 0.5 {
        spec.mirrored()
    } else {
        spec
    }
}

/// A prompt of `split`: training prompts as [`sample_prompt`], held-out ones in the split's fixed
/// wording after a task type drawn uniformly.
pub fn sample_split_prompt(rng: &mut Rng, split: Split) -> PromptSpec {
    match split {
        Split::Train => sample_prompt(rng, &training_categories()),
        _ => {
            let category = *rng.pick(&split_categories(split));
            rng.pick(prompts(split, category)).clone()
        }
    }
}

pub struct Batch {
    pub tokens: Vec<[u32; MAX_TOKENS]>,
    /// (n, 3, res, res) channel-major, in [-1, 1].
    pub images: Vec<f32>,
    pub noise: Vec<f32>,
    /// Flow times, logit-normal (most mass mid-path, where learning is hardest).
    pub times: Vec<f32>,
}

/// `drop_prompt`: fraction of prompts replaced by padding (classifier-free guidance).
pub fn batch(seed: u64, step: usize, n: usize, resolution: usize, drop_prompt: f32) -> Batch {
    let mut rng = Rng::for_step(seed, step, "batch");
    let categories = training_categories();
    let mut b = Batch {
        tokens: Vec::with_capacity(n),
        images: Vec::with_capacity(n * 3 * resolution * resolution),
        noise: vec![],
        times: vec![],
    };
    for _ in 0..n {
        let spec = sample_prompt(&mut rng, &categories);
        let img = render(&Scene::sample(&spec, rng.next_u64(), resolution));
        for c in 0..3 {
            b.images.extend(img.rgb.iter().skip(c).step_by(3).map(|&v| v as f32 / 127.5 - 1.0));
        }
        let ids = if rng.unit() < drop_prompt {
            [0; MAX_TOKENS]
        } else {
            text::encode(&spec.text()).expect("world prompts are in the vocabulary")
        };
        b.tokens.push(ids);
    }
    b.noise = hypernoise::generator::noise::gaussian(&mut rng, n * 3 * resolution * resolution);
    b.times =
        hypernoise::generator::noise::gaussian(&mut rng, n).into_iter().map(|g| 1.0 / (1.0 + (-g).exp())).collect();
    b
}

/// Items for steps `from..to`, in order, made ahead of time by up to 8 threads (worker w makes
/// steps from + w, from + w + workers, ...), so CPU-side data keeps up with a GPU.
pub fn prefetch<T: Send + 'static>(
    from: usize,
    to: usize,
    make: impl Fn(usize) -> T + Send + Clone + 'static,
) -> impl Iterator<Item = T> {
    let workers = std::thread::available_parallelism().map_or(1, |p| p.get()).clamp(1, 8);
    let receivers: Vec<_> = (0..workers)
        .map(|w| {
            let (tx, rx) = std::sync::mpsc::sync_channel(2);
            let make = make.clone();
            std::thread::spawn(move || {
                for step in (from + w..to).step_by(workers) {
                    if tx.send(make(step)).is_err() {
                        return;
                    }
                }
            });
            rx
        })
        .collect();
    (from..to).map(move |step| receivers[(step - from) % workers].recv().expect("data worker stopped"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_a_function_of_seed_and_step_whoever_makes_them() {
        let direct: Vec<Vec<f32>> = (3..9).map(|s| batch(7, s, 4, 16, 0.1).images).collect();
        let prefetched: Vec<Vec<f32>> = prefetch(3, 9, |s| batch(7, s, 4, 16, 0.1)).map(|b| b.images).collect();
        assert_eq!(direct, prefetched);
        assert_ne!(direct[0], direct[1]);
        let b = batch(7, 3, 64, 16, 0.0);
        assert!(b.times.iter().all(|t| (0.0..=1.0).contains(t)));
        assert!(b.tokens.iter().all(|t| t[0] != 0), "no prompt dropped at drop_prompt 0");
        let started = std::time::Instant::now();
        batch(0, 0, 128, 64, 0.1);
        eprintln!("one 128 x 64px batch: {:?}", started.elapsed());
    }
}
