//! The procedural scene world: coloured shapes on a plain light background, described by
//! English prompts of GenEval's six task types.
//!
//! `palette` (shapes, colours) -> `prompt` (what a prompt asks for) -> `scene` (a layout that
//! satisfies it, from a seed) -> `render` (RGB pixels) ; `split` fixes which compositions are
//! for training, validation and evaluation.

pub mod geometry;
pub mod image;
pub mod palette;
pub mod prompt;
pub mod render;
pub mod scene;
pub mod split;

pub use geometry::BBox;
pub use image::Image;
pub use palette::{Colour, Shape};
pub use prompt::{Category, ObjectSpec, PromptSpec, Relation};
pub use scene::{Placed, Scene};
pub use split::Split;

/// Default canvas side in pixels.
pub const DEFAULT_RESOLUTION: usize = 64;
