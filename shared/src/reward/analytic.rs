//! Closed-form rewards on images in [-1, 1].

use burn::prelude::*;

/// The paper's toy reward: mean over pixels of R - (G + B) / 2, on [0, 1] colours; one value
/// per image (B).
pub fn redness(x: Tensor<4>) -> Tensor<1> {
    let [b, _, h, w] = x.dims();
    let x = (x + 1.0) / 2.0;
    let r = x.clone().narrow(1, 0, 1);
    let gb = x.narrow(1, 1, 2).sum_dim(1) / 2.0;
    (r - gb).reshape([b, h * w]).mean_dim(1).reshape([b])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn red_scores_one_grey_zero() {
        let dev = Device::flex();
        // channel-major: red image (1, -1, -1) and a grey one (0, 0, 0)
        let mut data = vec![1.0f32; 16];
        data.extend(vec![-1.0f32; 32]);
        data.extend(vec![0.0f32; 48]);
        let x = Tensor::<4>::from_data(TensorData::new(data, [2, 3, 4, 4]), &dev);
        let r: Vec<f32> = redness(x).into_data().try_into_vec().unwrap();
        assert!((r[0] - 1.0).abs() < 1e-6 && r[1].abs() < 1e-6, "{r:?}");
    }
}
