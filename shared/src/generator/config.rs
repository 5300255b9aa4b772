//! The generator's architecture hyper-parameters.

use crate::net_shape::NetShape;

/// Bounds on the attention settings a weights file may ask for (see `net_shape::MAX_LEVELS`).
const MAX_HEADS: usize = 64;
const MAX_TEXT_LAYERS: usize = 16;
use serde::{Deserialize, Serialize};

/// U-Net levels at `resolution`, `resolution / 2`, ...; `emb_dim` is the prompt + time vector
/// that modulates every residual block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratorConfig {
    #[serde(flatten)]
    pub shape: NetShape,
    /// How the U-Net reads the prompt: with `None`, one pooled prompt vector of `emb_dim`
    /// modulates it (the design of `weights/generator.safetensors`, whose files name no
    /// attention); with attention, every token's features (`token_dim` wide) reach it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention: Option<AttentionConfig>,
}

/// The token-conditioned design: a transformer prompt encoder, and attention blocks from
/// `from_level` (0 = full resolution) down, the middle included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttentionConfig {
    /// Heads of every attention layer (prompt encoder and U-Net).
    pub heads: usize,
    /// Transformer layers of the prompt encoder.
    pub text_layers: usize,
    pub from_level: usize,
}

impl std::ops::Deref for GeneratorConfig {
    type Target = NetShape;
    fn deref(&self) -> &NetShape {
        &self.shape
    }
}

impl GeneratorConfig {
    /// New models: 64x64, four levels (64, 32, 16, 8 px), attention at 16 and 8 px.
    pub fn standard() -> Self {
        GeneratorConfig {
            shape: NetShape {
                resolution: 64,
                channels: vec![32, 64, 128, 128],
                emb_dim: 256,
                token_dim: 128,
                groups: 8,
            },
            attention: Some(AttentionConfig { heads: 4, text_layers: 2, from_level: 2 }),
        }
    }

    /// The pooled design at the standard size (that of `weights/generator.safetensors`).
    pub fn pooled() -> Self {
        GeneratorConfig { shape: NetShape { token_dim: 64, ..Self::standard().shape }, attention: None }
    }

    /// For CPU tests: seconds to train a few steps.
    pub fn tiny() -> Self {
        GeneratorConfig {
            shape: NetShape { resolution: 16, channels: vec![8, 16], emb_dim: 32, token_dim: 8, groups: 4 },
            attention: Some(AttentionConfig { heads: 2, text_layers: 1, from_level: 1 }),
        }
    }

    /// The pooled design at the tiny size.
    pub fn tiny_pooled() -> Self {
        GeneratorConfig { attention: None, ..Self::tiny() }
    }

    /// Width of [`super::Generator::encode`]'s output, its slots side by side: the pooled
    /// vector, or the summary and every token slot.
    pub fn encoding_width(&self) -> usize {
        match self.attention {
            None => self.emb_dim,
            Some(_) => super::text_encoder::SLOTS * self.token_dim,
        }
    }

    pub fn levels(&self) -> usize {
        self.channels.len()
    }

    /// The attention settings of U-Net level `level` (the middle: the last level's), if it
    /// has attention blocks.
    pub fn attention_at(&self, level: usize) -> Option<AttentionConfig> {
        self.attention.filter(|a| level >= a.from_level)
    }

    pub fn check(&self) -> Result<(), String> {
        self.shape.check()?;
        let levels = self.levels();
        if !self.resolution.is_multiple_of(1 << (levels - 1)) {
            return Err(format!(
                "resolution {} must be divisible by 2^(levels-1) for {levels} levels",
                self.resolution
            ));
        }
        let Some(a) = self.attention else { return Ok(()) };
        if a.heads > MAX_HEADS || a.text_layers > MAX_TEXT_LAYERS {
            return Err(format!(
                "{} heads and {} text layers: at most {MAX_HEADS} and {MAX_TEXT_LAYERS}",
                a.heads, a.text_layers
            ));
        }
        if a.heads == 0 || !self.token_dim.is_multiple_of(a.heads) {
            return Err(format!("token_dim {} must be a positive multiple of heads {}", self.token_dim, a.heads));
        }
        if let Some(c) = (0..levels)
            .filter(|&l| self.attention_at(l).is_some())
            .map(|l| self.channels[l])
            .find(|c| !c.is_multiple_of(a.heads))
        {
            return Err(format!("the channels of attention levels ({c}) must be multiples of heads {}", a.heads));
        }
        if a.from_level >= levels {
            return Err(format!("attention from level {} is beyond the {levels} levels", a.from_level));
        }
        Ok(())
    }
}
