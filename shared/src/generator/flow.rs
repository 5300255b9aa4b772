//! Rectified flow (flow matching with straight paths): x_t = (1 - t) z + t x, whose velocity
//! is x - z; t = 0 is noise, t = 1 an image. The teacher learns the velocity; sampling
//! integrates it with Euler steps and classifier-free guidance.

use super::Generator;
use burn::prelude::*;

/// The point at time `t` (B) on the straight path from noise `z` to image `x`.
pub fn interpolate(z: Tensor<4>, x: Tensor<4>, t: Tensor<1>) -> Tensor<4> {
    let t = t.unsqueeze_dims::<4>(&[1, 2, 3]);
    z * (t.clone().neg() + 1.0) + x * t
}

/// Moves a time on the path towards the noise end: t / (t + shift (1 - t)), the timestep shift
/// of Stable Diffusion 3; 1 leaves it. Where the objects go is settled while the image is still
/// mostly noise, so a shift spends more of training or sampling there.
pub fn shift_time(t: f32, shift: f32) -> f32 {
    t / (t + shift * (1.0 - t))
}

/// Mean squared error of the predicted velocity against x - z.
pub fn velocity_loss(model: &Generator, z: Tensor<4>, x: Tensor<4>, t: Tensor<1>, cond: Tensor<3>) -> Tensor<1> {
    let target = x.clone() - z.clone();
    let v = model.velocity(interpolate(z, x, t.clone()), t, cond);
    (v - target).powi_scalar(2).mean()
}

/// Integrates the guided velocity from noise `z` (t = 0) to an image (t = 1) in `steps`
/// Euler steps, at times evenly spaced and then shifted by `shift` ([`shift_time`]).
/// `guidance` 1 is the plain conditional model; above 1 pushes away from the unconditional
/// prediction (the all-padding prompt).
pub fn sample(
    model: &Generator,
    z: Tensor<4>,
    tokens: Tensor<2, Int>,
    steps: usize,
    guidance: f32,
    shift: f32,
) -> Tensor<4> {
    let [b, ..] = z.dims();
    let device = z.device();
    let cond = model.encode(tokens.clone());
    let uncond = model.encode(tokens.zeros_like());
    let both = Tensor::cat(vec![cond, uncond], 0);
    let time = |i: usize| shift_time(i as f32 / steps as f32, shift);
    let mut x = z;
    for i in 0..steps {
        let t = Tensor::full([2 * b], time(i), &device);
        let v = model.velocity(Tensor::cat(vec![x.clone(), x.clone()], 0), t, both.clone());
        let [vc, vu]: [Tensor<4>; 2] = v.chunk(2, 0).try_into().expect("two halves");
        let v = vu.clone() + (vc - vu) * guidance;
        x = x + v * (time(i + 1) - time(i));
    }
    x
}
