//! Architecture hyper-parameters, stored in every weights file so that loading can rebuild
//! the network before filling it.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratorConfig {
    /// Square image side in pixels.
    pub resolution: usize,
    /// Channels per U-Net level; each level halves the resolution.
    pub channels: Vec<usize>,
    /// Width of the conditioning vector (prompt + time).
    pub emb_dim: usize,
    /// Width of each token embedding.
    pub token_dim: usize,
    /// GroupNorm groups (must divide every channel count).
    pub groups: usize,
}

impl GeneratorConfig {
    /// The shipped model: 64x64, four levels (64, 32, 16, 8 px).
    pub fn standard() -> Self {
        GeneratorConfig { resolution: 64, channels: vec![32, 64, 128, 128], emb_dim: 256, token_dim: 64, groups: 8 }
    }

    /// For CPU tests: seconds to train a few steps.
    pub fn tiny() -> Self {
        GeneratorConfig { resolution: 16, channels: vec![8, 16], emb_dim: 32, token_dim: 8, groups: 4 }
    }

    pub fn check(&self) -> Result<(), String> {
        let levels = self.channels.len();
        if levels == 0 || self.resolution % (1 << (levels - 1)) != 0 {
            return Err(format!("resolution {} must be divisible by 2^(levels-1) for {levels} levels", self.resolution));
        }
        if self.channels.iter().any(|c| *c == 0 || c % self.groups != 0) {
            return Err(format!("channels {:?} must be positive multiples of groups {}", self.channels, self.groups));
        }
        if self.emb_dim == 0 || self.token_dim == 0 {
            return Err("emb_dim and token_dim must be positive".into());
        }
        Ok(())
    }
}
