//! The compact noise hypernetwork: a network of the generator's own design (prompt encoder and
//! U-Net with attention) a `divisor`-th as wide in every layer, trained from scratch beside the
//! frozen generator; f(z, c) is its output at t = 0. Its output layer is zero at init, as every
//! generator's is, so f = 0 and training starts from the base. It reads the noise at full
//! resolution through convolutions, as the LoRA hypernetwork does, where the light network reads
//! a few frequencies through an MLP. At a quarter of the widths it has about a sixteenth of a
//! generator pass's multiply-adds but as many operations, so it costs more than that: HyperNoise
//! took 1.23x the base's time on a 2-core CPU (docs/hypernoise.md).

use crate::generator::GeneratorConfig;
use crate::net_shape::NetShape;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactConfig {
    /// Every width of the generator's network (channels, embeddings) divided by this.
    pub divisor: usize,
}

impl CompactConfig {
    pub const MAX_DIVISOR: usize = 64;

    /// What `trainer fit --design compact` trains by default: a quarter of the widths.
    pub fn standard() -> Self {
        CompactConfig { divisor: 4 }
    }

    /// The compact network's architecture beside a generator of `generator`'s: the same levels,
    /// attention and GroupNorm groups at `divisor` times smaller widths.
    pub fn network(&self, generator: &GeneratorConfig) -> GeneratorConfig {
        let d = self.divisor.max(1);
        GeneratorConfig {
            shape: NetShape {
                channels: generator.channels.iter().map(|c| c / d).collect(),
                emb_dim: generator.emb_dim / d,
                token_dim: generator.token_dim / d,
                ..generator.shape.clone()
            },
            attention: generator.attention,
        }
    }

    /// A divisor within bounds whose network builds beside `generator`.
    pub fn check(&self, generator: &GeneratorConfig) -> Result<(), String> {
        if !(1..=Self::MAX_DIVISOR).contains(&self.divisor) {
            return Err(format!(
                "compact hypernetwork divisor {} must be from 1 to {}",
                self.divisor,
                Self::MAX_DIVISOR
            ));
        }
        self.network(generator).check().map_err(|e| {
            format!(
                "compact hypernetwork divisor {}: the generator's widths divided by it build no network ({e})",
                self.divisor
            )
        })
    }
}
