//! The exact, non-learned evaluator (our GenEval): `detect` finds coloured shapes in pixels,
//! `rules` decides per GenEval's rules whether they satisfy a prompt, `report` aggregates
//! per-category accuracy. Nothing here is learned, so it cannot be reward-hacked.

pub mod detect;
pub mod group;
pub mod report;
pub mod rules;
pub mod separate;
pub mod shape;

pub use detect::{detect, Detection};
pub use report::Report;
pub use rules::{judge, Verdict};

use crate::text::PromptError;
use crate::world::{Image, PromptSpec};

/// Parses `prompt` and judges `image` against it.
pub fn evaluate(prompt: &str, image: &Image) -> Result<Verdict, PromptError> {
    Ok(judge(&PromptSpec::parse(prompt)?, &detect(image)))
}
