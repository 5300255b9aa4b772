//! `trainer read-prompts`: what a token-conditioned generator's prompt encoder knows at each
//! shape word, measured by linear probes. A probe (ridge regression on the word's feature)
//! learns from training prompts, in both wordings, to tell that object's colour, the other
//! object's colour and the side of the relation it stands on, and is scored on the held-out
//! evaluation prompts. An encoder that binds words knows its own object's colour better than
//! the other's; one that only knows which words occur knows both alike.

use crate::backend::{DeviceKind, OnBackend};
use crate::models::load_generator;
use crate::train::reading::{colour_class, object_words, side, ObjectWord};
use anyhow::{ensure, Result};
use burn::prelude::*;
use hypernoise::generator::pixels::{encode_prompts, tokens_tensor};
use hypernoise::generator::Generator;
use hypernoise::world::split::{prompts, Split};
use hypernoise::world::{Category, Colour, PromptSpec};
use serde::Serialize;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A token-conditioned generator (`teach --preset standard`).
    #[arg(long)]
    weights: PathBuf,
    #[arg(long)]
    json: Option<PathBuf>,
}

/// One shape word: its feature and what a probe is asked of it.
struct Word {
    feature: Vec<f64>,
    /// Own colour, the other object's colour ([`colour_class`]), [`side`].
    answers: [usize; 3],
}

const QUESTIONS: [&str; 3] = ["own colour", "other object's colour", "side"];
const CLASSES: usize = Colour::ALL.len() + 1;

/// The shape words of `specs` (each prompt and its mirrored wording), encoded.
fn shape_words(generator: &Generator, specs: &[PromptSpec], device: &Device) -> Result<Vec<Word>> {
    let specs: Vec<PromptSpec> = specs.iter().flat_map(|s| [s.clone(), s.mirrored()]).collect();
    let texts: Vec<String> = specs.iter().map(PromptSpec::text).collect();
    let encoded = generator.encode(tokens_tensor(&encode_prompts(&texts)?, device));
    let [_, slots, dim] = encoded.dims();
    ensure!(slots > 1, "a pooled generator has no word features to probe; read-prompts needs a token-conditioned one");
    let values: Vec<f32> = encoded.into_data().convert::<f32>().try_into_vec().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let mut words = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        for ObjectWord { slot, object, .. } in object_words(spec).into_iter().filter(|w| w.is_shape) {
            let slot = 1 + slot; // slot 0 is the summary token
            words.push(Word {
                feature: values[(i * slots + slot) * dim..][..dim].iter().map(|&v| v as f64).collect(),
                answers: [
                    colour_class(spec.objects[object].colour),
                    colour_class(spec.objects[1 - object].colour),
                    side(spec, object),
                ],
            });
        }
    }
    Ok(words)
}

/// Ridge regression onto one-hot answers: (features + 1) x classes weights.
fn fit_probe(words: &[Word], question: usize) -> Vec<Vec<f64>> {
    let d = words[0].feature.len() + 1;
    let mut gram = vec![vec![0.0; d]; d];
    let mut rhs = vec![vec![0.0; CLASSES]; d];
    for w in words {
        let x: Vec<f64> = w.feature.iter().copied().chain([1.0]).collect();
        for i in 0..d {
            for j in 0..d {
                gram[i][j] += x[i] * x[j];
            }
            rhs[i][w.answers[question]] += x[i];
        }
    }
    for (i, row) in gram.iter_mut().enumerate() {
        row[i] += 1.0;
    }
    solve(gram, rhs)
}

/// Gauss-Jordan with partial pivoting (the ridge term keeps the system regular).
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    let d = a.len();
    for c in 0..d {
        let pivot = (c..d).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs())).expect("rows left");
        a.swap(c, pivot);
        b.swap(c, pivot);
        for r in (0..d).filter(|&r| r != c) {
            let f = a[r][c] / a[c][c];
            let (row_c, row_b) = (a[c].clone(), b[c].clone());
            a[r].iter_mut().zip(&row_c).for_each(|(x, y)| *x -= f * y);
            b[r].iter_mut().zip(&row_b).for_each(|(x, y)| *x -= f * y);
        }
    }
    b.iter().zip(&a).enumerate().map(|(i, (row, a_row))| row.iter().map(|v| v / a_row[i]).collect()).collect()
}

fn accuracy(probe: &[Vec<f64>], words: &[Word], question: usize) -> f64 {
    let right = words
        .iter()
        .filter(|w| {
            let x = w.feature.iter().copied().chain([1.0]);
            let scores: Vec<f64> =
                (0..CLASSES).map(|k| x.clone().zip(probe).map(|(v, row)| v * row[k]).sum()).collect();
            let best = (0..CLASSES).max_by(|&a, &b| scores[a].total_cmp(&scores[b])).expect("classes");
            best == w.answers[question]
        })
        .count();
    right as f64 / words.len() as f64
}

#[derive(Serialize)]
struct Probe {
    category: &'static str,
    question: &'static str,
    train_accuracy: f64,
    eval_accuracy: f64,
}

impl OnBackend for Args {
    type Output = ();

    fn run(self, device: Device, _kind: DeviceKind) -> Result<()> {
        let (generator, _) = load_generator(&self.weights, &device)?;
        let mut probes = Vec::new();
        println!("| prompts | question | train | held out |\n|---|---|---|---|");
        for (category, questions) in [(Category::ColorAttr, 0..2), (Category::Position, 0..3)] {
            let train = shape_words(&generator, prompts(Split::Train, category), &device)?;
            let held_out = shape_words(&generator, prompts(Split::Eval, category), &device)?;
            for q in questions {
                let probe = fit_probe(&train, q);
                let p = Probe {
                    category: category.name(),
                    question: QUESTIONS[q],
                    train_accuracy: accuracy(&probe, &train, q),
                    eval_accuracy: accuracy(&probe, &held_out, q),
                };
                println!("| {} | {} | {:.3} | {:.3} |", p.category, p.question, p.train_accuracy, p.eval_accuracy);
                probes.push(p);
            }
        }
        if let Some(path) = &self.json {
            let report = serde_json::json!({ "weights": self.weights, "probes": probes });
            crate::files::write(path, serde_json::to_string_pretty(&report)?.as_bytes())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hypernoise::rng::Rng;

    /// Words whose features carry their own colour (one-hot, with noise) and nothing of the rest.
    fn words(n: usize, rng: &mut Rng) -> Vec<Word> {
        (0..n)
            .map(|_| {
                let answers = [rng.below(CLASSES), rng.below(CLASSES), rng.below(2)];
                let feature = (0..16)
                    .map(|k| f64::from(u8::from(k == answers[0])) + 0.3 * f64::from(rng.range(-1.0, 1.0)))
                    .collect();
                Word { feature, answers }
            })
            .collect()
    }

    #[test]
    fn a_probe_reads_what_the_features_hold_and_only_that() {
        let mut rng = Rng::new(11);
        let (train, held_out) = (words(400, &mut rng), words(200, &mut rng));
        let own = fit_probe(&train, 0);
        assert!(accuracy(&own, &held_out, 0) > 0.95, "the own colour is in the features");
        let other = fit_probe(&train, 1);
        let chance = accuracy(&other, &held_out, 1);
        assert!(chance < 0.3, "the other colour is not: {chance} should be near 1/{CLASSES}");
    }
}
