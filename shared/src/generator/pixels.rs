//! Conversions between world images / prompts and tensors. Pixels live in [-1, 1].

use crate::text::{self, PromptError, MAX_TOKENS};
use crate::world::Image;
use burn::prelude::*;

/// (B, 3, H, W) in [-1, 1] from RGB images of one size.
pub fn images_to_tensor(images: &[Image], device: &Device) -> Tensor<4> {
    let (w, h) = (images[0].width, images[0].height);
    let mut data = Vec::with_capacity(images.len() * 3 * w * h);
    for img in images {
        for c in 0..3 {
            data.extend(img.rgb.iter().skip(c).step_by(3).map(|&v| v as f32 / 127.5 - 1.0));
        }
    }
    Tensor::from_data(TensorData::new(data, [images.len(), 3, h, w]), device)
}

/// Clamps to [-1, 1] and rounds to 8-bit RGB images.
pub fn tensor_to_images(x: Tensor<4>) -> Vec<Image> {
    let dims = x.dims();
    data_to_images(&x.into_data().convert::<f32>().try_into_vec().expect("float tensor"), dims)
}

/// As [`tensor_to_images`], for a tensor's values already read back (the browser reads
/// asynchronously): `data` in (B, 3, H, W) order.
pub fn data_to_images(data: &[f32], [b, _, h, w]: [usize; 4]) -> Vec<Image> {
    (0..b)
        .map(|i| {
            let plane = |c: usize| &data[(i * 3 + c) * h * w..(i * 3 + c + 1) * h * w];
            let to_u8 = |v: f32| ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8;
            let rgb = (0..h * w).flat_map(|p| [to_u8(plane(0)[p]), to_u8(plane(1)[p]), to_u8(plane(2)[p])]).collect();
            Image { width: w, height: h, rgb }
        })
        .collect()
}

/// (B, MAX_TOKENS) token ids.
pub fn tokens_tensor(ids: &[[u32; MAX_TOKENS]], device: &Device) -> Tensor<2, Int> {
    let flat: Vec<i32> = ids.iter().flatten().map(|&i| i as i32).collect();
    Tensor::from_data(TensorData::new(flat, [ids.len(), MAX_TOKENS]), device)
}

/// Token ids of prompts, failing on the first bad one.
pub fn encode_prompts<S: AsRef<str>>(prompts: &[S]) -> Result<Vec<[u32; MAX_TOKENS]>, PromptError> {
    prompts.iter().map(|p| text::encode(p.as_ref())).collect()
}

/// (B, 3, res, res) noise tensors from seeds (see [`super::noise::seeded`]).
pub fn noise_tensor(seeds: &[u64], resolution: usize, device: &Device) -> Tensor<4> {
    let data = super::noise::seeded_batch(seeds, resolution);
    Tensor::from_data(TensorData::new(data, [seeds.len(), 3, resolution, resolution]), device)
}
