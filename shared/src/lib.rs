//! HyperNoise model crate. The pipeline, in module order:
//! scene world ([`world`]) -> prompt encoding ([`text`]) -> exact evaluator ([`eval`]).
//! Everything here is deterministic and platform independent (no OS randomness, no
//! transcendental functions at render time) so that native and wasm builds agree bit for bit.

pub mod eval;
pub mod rng;
pub mod text;
pub mod world;
