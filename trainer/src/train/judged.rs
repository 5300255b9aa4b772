//! Preference pairs among a one-step generator's own images, judged by the exact evaluator:
//! for one prompt, an image the evaluator accepts over one it rejects. ReNO and the
//! hypernetwork climb the reward on generator images, which rendered pairs never show it.
//! ImageReward learnt from people ranking generated images; here the evaluator's rules are the
//! annotator, on training prompts (validation prompts for the score), never on evaluation ones.
//! ReNO's own images against a reward can join the pool: they are where gradient ascent on the
//! noise goes, images the reward overrates included.

use super::data::sample_split_prompt;
use crate::progress;
use crate::rewards::Reward;
use anyhow::{anyhow, bail, Result};
use burn::prelude::*;
use hypernoise::eval::evaluate;
use hypernoise::generator::pixels::{images_to_tensor, noise_tensor, tensor_to_images, tokens_tensor};
use hypernoise::generator::{Generator, Sampler};
use hypernoise::optimize::reno::{reno, RenoConfig};
use hypernoise::rng::Rng;
use hypernoise::text::{self, MAX_TOKENS};
use hypernoise::world::split::Split;
use hypernoise::world::Image;
use std::fmt;

/// Prompts per generator call (and per ReNO batch).
const CHUNK: usize = 256;

/// ReNO against `reward`: per prompt, the image it returns from the prompt's first noise.
pub struct RenoSource<'a> {
    pub generator: &'a Generator,
    pub reward: &'a Reward,
    pub config: RenoConfig,
}

/// One prompt's images, by the evaluator's verdict.
struct Judged {
    tokens: [u32; MAX_TOKENS],
    accepted: Vec<Image>,
    rejected: Vec<Image>,
}

/// Images accepted of images judged, per source.
#[derive(Default)]
pub struct Tally {
    prompts: usize,
    kept: usize,
    one_step: (usize, usize),
    reno: (usize, usize),
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "{} of {} prompts have both verdicts; accepted: one-step {} of {}",
            self.kept, self.prompts, self.one_step.0, self.one_step.1
        )?;
        if self.reno.1 > 0 {
            write!(f, ", ReNO {} of {}", self.reno.0, self.reno.1)?;
        }
        Ok(())
    }
}

/// The prompts that have at least one accepted and one rejected image.
pub struct JudgedPool {
    prompts: Vec<Judged>,
    pub tally: Tally,
}

impl JudgedPool {
    /// Judges `seeds` one-step images of each of `n` prompts drawn from `split` (with repeats),
    /// and ReNO's image of each with `reno_source`. Fails when no prompt has both verdicts.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        generator: &Generator,
        reno_source: Option<&RenoSource>,
        split: Split,
        n: usize,
        seeds: usize,
        seed: u64,
        resolution: usize,
        device: &Device,
    ) -> Result<Self> {
        let mut rng = Rng::derive(seed, "judged pool");
        let bar = progress::bar(n, &format!("judging {}", split.name()));
        let mut pool = JudgedPool { prompts: Vec::new(), tally: Tally::default() };
        for start in (0..n).step_by(CHUNK) {
            let texts: Vec<String> =
                (start..(start + CHUNK).min(n)).map(|_| sample_split_prompt(&mut rng, split).text()).collect();
            let tokens: Vec<[u32; MAX_TOKENS]> =
                texts.iter().map(|t| text::encode(t).expect("world prompts are in the vocabulary")).collect();
            let noise: Vec<Vec<u64>> = texts.iter().map(|_| (0..seeds).map(|_| rng.next_u64()).collect()).collect();
            let z = |s: usize| noise_tensor(&noise.iter().map(|v| v[s]).collect::<Vec<_>>(), resolution, device);
            // one_step[s][p]: prompt p's image from its s-th noise
            let one_step: Vec<Vec<Image>> = (0..seeds)
                .map(|s| tensor_to_images(generator.generate(z(s), tokens_tensor(&tokens, device), Sampler::OneStep)))
                .collect();
            let found = reno_source.map(|r| {
                let t = Tensor::<2, Int>::from_inner(tokens_tensor(&tokens, device));
                tensor_to_images(
                    reno(
                        r.generator,
                        r.generator.encode(t.clone()),
                        Tensor::from_inner(z(0)),
                        |x| r.reward.score(x, t.clone()),
                        &r.config,
                        |_, _| {},
                    )
                    .images,
                )
            });
            for (p, prompt) in texts.iter().enumerate() {
                let mut judged = Judged { tokens: tokens[p], accepted: vec![], rejected: vec![] };
                // ReNO keeps its starting image when nothing scored higher: judged once, as one-step
                let from_reno = found.iter().map(|f| &f[p]).filter(|img| img.rgb != one_step[0][p].rgb);
                for (is_reno, image) in one_step.iter().map(|b| (false, &b[p])).chain(from_reno.map(|img| (true, img)))
                {
                    let accepted = evaluate(prompt, image).map_err(|e| anyhow!("{e}"))?.correct;
                    let count = if is_reno { &mut pool.tally.reno } else { &mut pool.tally.one_step };
                    count.0 += accepted as usize;
                    count.1 += 1;
                    if accepted { &mut judged.accepted } else { &mut judged.rejected }.push(image.clone());
                }
                if !judged.accepted.is_empty() && !judged.rejected.is_empty() {
                    pool.prompts.push(judged);
                }
            }
            pool.tally.prompts += texts.len();
            pool.tally.kept = pool.prompts.len();
            bar.inc(texts.len() as u64);
        }
        bar.finish_and_clear();
        if pool.prompts.is_empty() {
            bail!("judged pairs: no {} prompt has both an image the exact evaluator accepts and one it rejects ({}); judge more prompts or seeds, or a better generator", split.name(), pool.tally);
        }
        Ok(pool)
    }

    /// `k` pairs, each an accepted image over a rejected one of a prompt drawn at random:
    /// (preferred, rejected, tokens).
    pub fn pairs(&self, k: usize, rng: &mut Rng, device: &Device) -> (Tensor<4>, Tensor<4>, Tensor<2, Int>) {
        let (mut good, mut bad, mut tokens) = (Vec::with_capacity(k), Vec::with_capacity(k), Vec::with_capacity(k));
        for _ in 0..k {
            let j = rng.pick(&self.prompts);
            good.push(rng.pick(&j.accepted).clone());
            bad.push(rng.pick(&j.rejected).clone());
            tokens.push(j.tokens);
        }
        (images_to_tensor(&good, device), images_to_tensor(&bad, device), tokens_tensor(&tokens, device))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hypernoise::world::render::render;
    use hypernoise::world::{PromptSpec, Scene};

    #[test]
    fn pairs_set_an_accepted_image_over_a_rejected_one_of_the_same_prompt() {
        let image = |prompt: &str, seed| render(&Scene::sample(&PromptSpec::parse(prompt).unwrap(), seed, 64));
        let judged = |prompt: &str, wrong: &str| Judged {
            tokens: text::encode(prompt).unwrap(),
            accepted: vec![image(prompt, 1), image(prompt, 2)],
            rejected: vec![image(wrong, 3)],
        };
        let prompts = ["two red circles", "a blue square"];
        let pool = JudgedPool {
            prompts: vec![judged(prompts[0], "three red circles"), judged(prompts[1], "a blue star")],
            tally: Tally::default(),
        };
        let (good, bad, t) = pool.pairs(16, &mut Rng::derive(0, "test"), &Device::flex());
        assert_eq!(good.dims(), [16, 3, 64, 64]);
        let tokens: Vec<i64> = t.into_data().convert::<i64>().try_into_vec().unwrap();
        let mut seen = [false; 2];
        for (i, (g, b)) in tensor_to_images(good).iter().zip(tensor_to_images(bad)).enumerate() {
            // each pair's images belong to the prompt of its own tokens
            let p = prompts
                .iter()
                .position(|p| {
                    text::encode(p)
                        .unwrap()
                        .iter()
                        .map(|&v| v as i64)
                        .eq(tokens[i * MAX_TOKENS..(i + 1) * MAX_TOKENS].iter().copied())
                })
                .expect("a pool prompt");
            seen[p] = true;
            assert!(
                evaluate(prompts[p], g).unwrap().correct,
                "pair {i}: preferred image rejected for '{}'",
                prompts[p]
            );
            assert!(
                !evaluate(prompts[p], &b).unwrap().correct,
                "pair {i}: rejected image accepted for '{}'",
                prompts[p]
            );
        }
        assert_eq!(seen, [true, true], "both prompts drawn in 16 pairs");
    }
}
