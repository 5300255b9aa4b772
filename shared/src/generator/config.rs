//! The generator's architecture hyper-parameters.

use crate::net_shape::{shaped_config, NetShape};

shaped_config!(
    /// U-Net levels at `resolution`, `resolution / 2`, ...; `emb_dim` is the prompt + time vector.
    GeneratorConfig
);

impl GeneratorConfig {
    /// The shipped model: 64x64, four levels (64, 32, 16, 8 px).
    pub fn standard() -> Self {
        GeneratorConfig(NetShape { resolution: 64, channels: vec![32, 64, 128, 128], emb_dim: 256, token_dim: 64, groups: 8 })
    }

    /// For CPU tests: seconds to train a few steps.
    pub fn tiny() -> Self {
        GeneratorConfig(NetShape { resolution: 16, channels: vec![8, 16], emb_dim: 32, token_dim: 8, groups: 4 })
    }

    pub fn check(&self) -> Result<(), String> {
        self.0.check()?;
        let levels = self.channels.len();
        if self.resolution % (1 << (levels - 1)) != 0 {
            return Err(format!("resolution {} must be divisible by 2^(levels-1) for {levels} levels", self.resolution));
        }
        Ok(())
    }
}
