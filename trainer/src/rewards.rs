//! Rewards named on the command line: `--reward SPEC`, a weighted sum of terms `[w*]source`
//! joined by `+`, where a source is `redness` (the paper's toy reward) or a learned reward's
//! weights file (`trainer reward`), e.g. `weights/reward.safetensors+0.5*redness`.
//! Learned rewards are frozen; gradients flow through them to the image only.

use anyhow::{anyhow, bail, Context, Result};
use burn::prelude::*;
use hypernoise::reward::analytic::redness;
use hypernoise::reward::RewardModel;
use std::path::PathBuf;

/// The learned reward the repository ships.
pub fn shipped_reward() -> PathBuf {
    crate::models::shipped("reward.safetensors")
}

#[allow(clippy::large_enum_variant, reason = "a handful per run, made once")]
enum Term {
    Redness,
    Learned(RewardModel),
}

pub struct Reward {
    terms: Vec<(f32, Term)>,
}

impl Reward {
    /// `resolution`: the images it will score (a learned reward reads one size only).
    pub fn parse(spec: &str, resolution: usize, device: &Device) -> Result<Self> {
        let mut terms = Vec::new();
        for part in spec.split('+').map(str::trim) {
            let (weight, source) = match part.split_once('*') {
                Some((w, s)) => (
                    w.trim().parse::<f32>().map_err(|_| anyhow!("reward term '{part}': '{w}' is not a weight"))?,
                    s.trim(),
                ),
                None => (1.0, part),
            };
            if source.is_empty() {
                bail!("empty reward term in '{spec}'");
            }
            let term = if source == "redness" {
                Term::Redness
            } else {
                let bytes = std::fs::read(source)
                    .with_context(|| format!("reward '{source}' is neither 'redness' nor a readable weights file"))?;
                let (model, config) =
                    RewardModel::from_bytes(&bytes, device).map_err(|e| anyhow!("cannot load reward {source}: {e}"))?;
                if config.resolution != resolution {
                    bail!("reward {source} reads {} px images; these are {resolution} px", config.resolution);
                }
                Term::Learned(model.no_grad())
            };
            terms.push((weight, term));
        }
        Ok(Reward { terms })
    }

    /// One score per image (B) for images (B, 3, H, W) and their prompts' tokens (B, T).
    pub fn score(&self, x: Tensor<4>, tokens: Tensor<2, Int>) -> Tensor<1> {
        let mut total: Option<Tensor<1>> = None;
        for (w, term) in &self.terms {
            let s = match term {
                Term::Redness => redness(x.clone()),
                Term::Learned(model) => model.forward(x.clone(), tokens.clone()),
            } * *w;
            total = Some(match total {
                Some(t) => t + s,
                None => s,
            });
        }
        total.expect("a spec has at least one term")
    }
}
