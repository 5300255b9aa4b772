//! Test-time baselines that spend compute per image instead of training: ReNO (gradient ascent
//! on the noise) and best-of-N (sampling and picking by reward). HyperNoise amortises what ReNO
//! does per image into one trained network.

pub mod best_of_n;
pub mod reno;

#[cfg(test)]
mod tests;
