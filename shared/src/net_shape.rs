//! The hyper-parameters the project's networks have in common (the generator's U-Net and the
//! reward's CNN read them each their own way). Configs wrap them; they are stored in every
//! weights file so that loading can rebuild the network before filling it.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetShape {
    /// Square image side in pixels.
    pub resolution: usize,
    /// Channels per level; each level halves the resolution.
    pub channels: Vec<usize>,
    /// Width of the conditioning / joint embedding.
    pub emb_dim: usize,
    /// Width of each token embedding.
    pub token_dim: usize,
    /// GroupNorm groups (must divide every channel count).
    pub groups: usize,
}

/// The largest networks a weights file may describe. A file's config builds its network before
/// the tensors are read, so these bound what a corrupt or hostile file can make a loader
/// allocate (the shipped networks are 64 px, 4 levels of at most 128 channels).
pub const MAX_RESOLUTION: usize = 512;
pub const MAX_LEVELS: usize = 6;
pub const MAX_CHANNELS: usize = 512;
pub const MAX_WIDTH: usize = 1024;

impl NetShape {
    pub fn check(&self) -> Result<(), String> {
        if !(8..=MAX_RESOLUTION).contains(&self.resolution) {
            return Err(format!("resolution {} is outside 8..={MAX_RESOLUTION}", self.resolution));
        }
        if self.channels.len() > MAX_LEVELS || self.channels.iter().any(|&c| c > MAX_CHANNELS) {
            return Err(format!(
                "channels {:?}: at most {MAX_LEVELS} levels of at most {MAX_CHANNELS} channels",
                self.channels
            ));
        }
        if self.emb_dim > MAX_WIDTH || self.token_dim > MAX_WIDTH {
            return Err(format!(
                "emb_dim {} and token_dim {} must be at most {MAX_WIDTH}",
                self.emb_dim, self.token_dim
            ));
        }
        if self.channels.is_empty()
            || self.channels.iter().any(|c| *c == 0 || c % self.groups.max(1) != 0)
            || self.groups == 0
        {
            return Err(format!("channels {:?} must be positive multiples of groups {}", self.channels, self.groups));
        }
        if self.emb_dim == 0 || self.token_dim == 0 {
            return Err("emb_dim and token_dim must be positive".into());
        }
        Ok(())
    }
}

/// A config type that is a [`NetShape`] read by one architecture.
macro_rules! shaped_config {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub $crate::net_shape::NetShape);

        impl std::ops::Deref for $name {
            type Target = $crate::net_shape::NetShape;
            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }
    };
}
pub(crate) use shaped_config;
