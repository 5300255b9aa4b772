//! HyperNoise model crate. The pipeline, in module order:
//! scene world ([`world`]) -> prompt encoding ([`text`]) -> generator ([`generator`]) ->
//! reward ([`reward`]) -> noise hypernetwork ([`hypernet`]) and test-time baselines
//! ([`optimize`]) -> exact evaluator ([`eval`]). [`pipeline`] turns prompts and seeds into
//! images by any method, for every caller. Models are generic over burn's backend.
//! The world and evaluator are deterministic and platform independent (no OS randomness, no
//! transcendental functions at render time) so that native and wasm builds agree bit for bit.

pub mod eval;
pub mod generator;
pub mod hypernet;
pub mod net_shape;
pub mod ops;
pub mod optimize;
pub mod pipeline;
pub mod reward;
pub mod rng;
pub mod text;
pub mod weights;
pub mod world;
