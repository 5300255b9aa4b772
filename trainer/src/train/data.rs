//! Training batches from the world's training compositions. A batch is a pure function of
//! (seed, step), so a resumed run sees exactly the data the uninterrupted run would have.

use super::reading;
use hypernoise::generator::flow::shift_time;
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

/// How often each task type is drawn: `categories` holds a task type once per unit of weight, so
/// a uniform draw from it is the weighted draw (the default holds each trained type once).
#[derive(Clone, Debug, PartialEq)]
pub struct Mix {
    pub categories: Vec<Category>,
}

impl Default for Mix {
    fn default() -> Self {
        Mix { categories: training_categories() }
    }
}

/// Written as it is read: "two_object=1,counting=1,..." (task types in their usual order).
impl std::fmt::Display for Mix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let weights: Vec<String> = Category::ALL
            .iter()
            .map(|&c| (c, self.categories.iter().filter(|&&d| d == c).count()))
            .filter(|&(_, w)| w > 0)
            .map(|(c, w)| format!("{}={w}", c.name()))
            .collect();
        f.write_str(&weights.join(","))
    }
}

impl serde::Serialize for Mix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl std::str::FromStr for Mix {
    type Err = String;

    /// "position=4,color_attr=3,colors=1": integer weights by task type; types left out get 0.
    fn from_str(s: &str) -> Result<Mix, String> {
        let trained = training_categories();
        let mut categories = Vec::new();
        for part in s.split(',') {
            let (name, weight) =
                part.split_once('=').ok_or_else(|| format!("'{part}' is not task_type=weight (e.g. position=4)"))?;
            let category = *Category::ALL.iter().find(|c| c.name() == name.trim()).ok_or_else(|| {
                let names: Vec<&str> = trained.iter().map(|c| c.name()).collect();
                format!("unknown task type '{name}' (one of {})", names.join(", "))
            })?;
            if !trained.contains(&category) {
                return Err(format!("{name} has no training prompts (every one is held out)"));
            }
            let weight: usize =
                weight.trim().parse().ok().filter(|&w| w <= 100).ok_or_else(|| {
                    format!("the weight of {name} must be a whole number from 0 to 100, not '{weight}'")
                })?;
            categories.extend(std::iter::repeat_n(category, weight));
        }
        if categories.is_empty() {
            return Err("every weight is 0: nothing to train on".into());
        }
        // one order whatever the order written, so equal mixes draw equal prompts
        categories.sort();
        Ok(Mix { categories })
    }
}

/// A training prompt: task type uniformly from `categories`, then a composition, then one of its
/// two wordings.
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
    /// What each word names, for the reading loss (nothing where the prompt was dropped).
    pub reading: Vec<reading::Targets>,
    /// (n, 3, res, res) channel-major, in [-1, 1].
    pub images: Vec<f32>,
    pub noise: Vec<f32>,
    /// Flow times, logit-normal (most mass mid-path, where learning is hardest), then shifted
    /// towards the noise by the run's time shift.
    pub times: Vec<f32>,
}

/// `drop_prompt`: fraction of prompts replaced by padding (classifier-free guidance);
/// `time_shift`: [`shift_time`]'s shift of the flow times (1: none).
pub fn batch(
    seed: u64,
    step: usize,
    n: usize,
    resolution: usize,
    drop_prompt: f32,
    time_shift: f32,
    mix: &Mix,
) -> Batch {
    let mut rng = Rng::for_step(seed, step, "batch");
    let categories = &mix.categories;
    let mut b = Batch {
        tokens: Vec::with_capacity(n),
        reading: Vec::with_capacity(n),
        images: Vec::with_capacity(n * 3 * resolution * resolution),
        noise: vec![],
        times: vec![],
    };
    for _ in 0..n {
        let spec = sample_prompt(&mut rng, categories);
        let img = render(&Scene::sample(&spec, rng.next_u64(), resolution));
        for c in 0..3 {
            b.images.extend(img.rgb.iter().skip(c).step_by(3).map(|&v| v as f32 / 127.5 - 1.0));
        }
        let (ids, named) = if rng.unit() < drop_prompt {
            ([0; MAX_TOKENS], reading::NOTHING)
        } else {
            (text::encode(&spec.text()).expect("world prompts are in the vocabulary"), reading::targets(&spec))
        };
        b.tokens.push(ids);
        b.reading.push(named);
    }
    b.noise = hypernoise::generator::noise::gaussian(&mut rng, n * 3 * resolution * resolution);
    b.times = hypernoise::generator::noise::gaussian(&mut rng, n)
        .into_iter()
        .map(|g| shift_time(1.0 / (1.0 + (-g).exp()), time_shift))
        .collect();
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
        let direct: Vec<Vec<f32>> = (3..9).map(|s| batch(7, s, 4, 16, 0.1, 1.0, &Mix::default()).images).collect();
        let prefetched: Vec<Vec<f32>> =
            prefetch(3, 9, |s| batch(7, s, 4, 16, 0.1, 1.0, &Mix::default())).map(|b| b.images).collect();
        assert_eq!(direct, prefetched);
        assert_ne!(direct[0], direct[1]);
        let b = batch(7, 3, 64, 16, 0.0, 1.0, &Mix::default());
        assert!(b.times.iter().all(|t| (0.0..=1.0).contains(t)));
        assert!(b.tokens.iter().all(|t| t[0] != 0), "no prompt dropped at drop_prompt 0");
        let shifted = batch(7, 3, 64, 16, 0.0, 3.0, &Mix::default());
        assert_eq!(shifted.images, b.images, "a time shift changes the times only");
        for (&s, &t) in shifted.times.iter().zip(&b.times) {
            assert!((s - shift_time(t, 3.0)).abs() < 1e-6 && s <= t, "{t} shifted to {s}");
        }
        let started = std::time::Instant::now();
        batch(0, 0, 128, 64, 0.1, 1.0, &Mix::default());
        eprintln!("one 128 x 64px batch: {:?}", started.elapsed());
    }

    #[test]
    fn a_mix_draws_task_types_by_weight_and_refuses_what_it_cannot_train() {
        let mix: Mix = "position=3, colors=1".parse().unwrap();
        assert_eq!(mix.to_string().parse::<Mix>(), Ok(mix.clone()), "a mix reads back as it is written");
        let mut rng = Rng::new(5);
        let drawn: Vec<Category> = (0..4000).map(|_| sample_prompt(&mut rng, &mix.categories).category()).collect();
        let position = drawn.iter().filter(|&&c| c == Category::Position).count() as f32 / 4000.0;
        assert!((position - 0.75).abs() < 0.03, "position drawn {position} of the time, not 3/4");
        assert!(drawn.iter().all(|&c| c == Category::Position || c == Category::Colors));
        for (bad, says) in [
            ("single_object=1", "no training prompts"),
            ("shapes=2", "unknown task type"),
            ("position=two", "whole number"),
            ("position", "task_type=weight"),
            ("position=0,colors=0", "nothing to train on"),
        ] {
            let err = bad.parse::<Mix>().unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
