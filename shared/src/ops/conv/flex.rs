//! Flex's forward convolution as one matrix product per image: the weight (out, in, k, k) read
//! as the matrix (out, in * k * k) it already is, times the image's patches laid out in the same
//! order, (in * k * k, H' * W'), which gives the output (out, H' * W') in place.
//!
//! burn-flex lays each call's weight out anew as (out, k, k, in), copies the input to NHWC,
//! gathers its patches in that order and scatters the product back to NCHW. On a small canvas
//! those copies cost as much as the arithmetic: f of the coarse hypernetwork (the generator's
//! network on a 16 x 16 canvas) spent 31% of its time in burn-flex's convolution outside the
//! matrix product (perf on `cargo run --release --example coarse_cost -p hypernoise`), and the
//! page's CPU path runs every image that way. Other groupings and dtypes keep burn-flex's. The
//! sums are the same products in another order, so values differ from burn-flex's by rounding
//! alone.

use burn::backend::flex::FlexTensor;
use burn::backend::ops::{FloatTensorOps, ModuleOps};
use burn::backend::{Flex, TensorMetadata};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, TensorData};

/// At most this many patch values (f32) are gathered at a time: 16 MB, a few images of the
/// generator's full canvas, however large the batch.
const PATCH_VALUES: usize = 1 << 22;

pub fn conv2d(x: FlexTensor, weight: FlexTensor, bias: Option<FlexTensor>, options: ConvOptions<2>) -> FlexTensor {
    let empty = x.shape().num_elements() == 0;
    if empty || options.groups != 1 || x.dtype() != DType::F32 || weight.dtype() != DType::F32 {
        return <Flex as ModuleOps<Flex>>::conv2d(x, weight, bias, options);
    }
    let [batch, channels, height, width] = x.shape().dims();
    let [out_channels, _, kernel_h, kernel_w] = weight.shape().dims();
    let geometry = Geometry::new(&options, [height, width], [kernel_h, kernel_w]);
    let (rows, positions) = (channels * kernel_h * kernel_w, geometry.out_h * geometry.out_w);
    let weight = Flex::float_reshape(weight, [1, out_channels, rows].into());
    let x = x.to_contiguous();
    let out_dims = [batch, out_channels, geometry.out_h, geometry.out_w];
    let mut out = if geometry.is_identity() {
        // a 1 x 1 convolution's patches are the image itself
        Flex::float_matmul(weight, x.reshape([batch, rows, positions].into()))
    } else {
        let image_len = channels * height * width;
        let per_chunk = (PATCH_VALUES / (rows * positions).max(1)).clamp(1, batch.max(1));
        let products = (0..batch).step_by(per_chunk).map(|first| {
            let n = per_chunk.min(batch - first);
            let mut patches = vec![0.0f32; n * rows * positions];
            geometry.gather(&x.storage::<f32>()[first * image_len..(first + n) * image_len], &mut patches);
            Flex::float_matmul(weight.clone(), FlexTensor::from_data(TensorData::new(patches, [n, rows, positions])))
        });
        let mut products: Vec<FlexTensor> = products.collect();
        match products.len() {
            1 => products.pop().expect("one"),
            _ => Flex::float_cat(products, 0),
        }
    };
    if let Some(bias) = bias {
        let bias = bias.to_contiguous();
        let values = out.storage_mut::<f32>();
        for (plane, b) in values.chunks_mut(positions).zip(bias.storage::<f32>().iter().cycle()) {
            plane.iter_mut().for_each(|v| *v += b);
        }
    }
    out.reshape(out_dims.into())
}

/// Where each kernel tap reads the input.
struct Geometry {
    size: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    out_h: usize,
    out_w: usize,
}

impl Geometry {
    fn new(options: &ConvOptions<2>, size: [usize; 2], kernel: [usize; 2]) -> Self {
        let padding = options.padding_begin();
        let out = |d: usize| {
            let padded = size[d] + padding[d] + options.padding_end()[d];
            (padded - options.dilation[d] * (kernel[d] - 1) - 1) / options.stride[d] + 1
        };
        Geometry {
            size,
            kernel,
            stride: options.stride,
            padding,
            dilation: options.dilation,
            out_h: out(0),
            out_w: out(1),
        }
    }

    /// The input coordinate that output coordinate `o` reads at tap `k` along axis `d`, if inside.
    fn source(&self, d: usize, o: usize, k: usize) -> Option<usize> {
        (o * self.stride[d] + k * self.dilation[d]).checked_sub(self.padding[d]).filter(|&i| i < self.size[d])
    }

    /// Whether the patches are the image itself (a 1 x 1 kernel at stride 1, no padding).
    fn is_identity(&self) -> bool {
        self.kernel == [1, 1]
            && self.stride == [1, 1]
            && self.padding == [0, 0]
            && [self.out_h, self.out_w] == self.size
    }

    /// The patches of `images` (each in * k * k, H' * W') into `patches` (zeroed: padding stays
    /// zero), one row (an input channel's kernel tap) at a time, on every core natively.
    fn gather(&self, images: &[f32], patches: &mut [f32]) {
        let plane_len = self.size[0] * self.size[1];
        let taps = self.kernel[0] * self.kernel[1];
        // per horizontal tap, the output columns whose input column lies inside the row, with it
        let columns: Vec<Vec<(usize, usize)>> = (0..self.kernel[1])
            .map(|kx| (0..self.out_w).filter_map(|ox| self.source(1, ox, kx).map(|ix| (ox, ix))).collect())
            .collect();
        let fill = |index: usize, row: &mut [f32]| {
            // rows run image by image, channel by channel, tap by tap; a plane is an image's channel
            let (plane, tap) = (index / taps, index % taps);
            let (ky, kx) = (tap / self.kernel[1], tap % self.kernel[1]);
            self.fill_row(&images[plane * plane_len..(plane + 1) * plane_len], ky, &columns[kx], row);
        };
        let positions = self.out_h * self.out_w;
        debug_assert_eq!(patches.len(), images.len() / plane_len * taps * positions);
        #[cfg(not(target_arch = "wasm32"))]
        {
            use rayon::prelude::*;
            // rows in runs of at least 64 K values: a task's setup is then a small share of it
            let per_task = ((1 << 16) / positions).max(1);
            patches.par_chunks_mut(positions).with_min_len(per_task).enumerate().for_each(|(i, row)| fill(i, row));
        }
        #[cfg(target_arch = "wasm32")]
        patches.chunks_mut(positions).enumerate().for_each(|(i, row)| fill(i, row));
    }

    /// One row of patches: a channel's plane read at vertical tap `ky` and at the horizontal tap
    /// whose inside `columns` (output column, input column) are given.
    fn fill_row(&self, plane: &[f32], ky: usize, columns: &[(usize, usize)], row: &mut [f32]) {
        let width = self.size[1];
        let contiguous = self.stride[1] == 1 && self.dilation[1] == 1;
        for oy in 0..self.out_h {
            let Some(iy) = self.source(0, oy, ky) else { continue };
            let (source, target) =
                (&plane[iy * width..(iy + 1) * width], &mut row[oy * self.out_w..(oy + 1) * self.out_w]);
            match (columns.first(), columns.last()) {
                // at stride 1 the inside columns are one run, copied whole
                (Some(&(o0, i0)), Some(&(o1, i1))) if contiguous => target[o0..=o1].copy_from_slice(&source[i0..=i1]),
                _ => columns.iter().for_each(|&(ox, ix)| target[ox] = source[ix]),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PATCH_VALUES;
    use crate::ops::conv::conv2d;
    use crate::ops::testing::{max_difference, random};
    use burn::prelude::*;
    use burn::tensor::module;
    use burn::tensor::ops::ConvOptions;

    /// Against burn-flex's own convolution: kernels of 1 and 3, strides, padding, dilation, a
    /// rectangular image, with and without a bias.
    #[test]
    fn matches_burn_flex_for_every_geometry() {
        let device = Device::flex();
        // (kernel, stride, padding, dilation, bias)
        for (k, s, p, d, with_bias) in [
            (3, 1, 1, 1, true),
            (3, 2, 1, 1, true),
            (1, 1, 0, 1, true),
            (1, 2, 0, 1, false),
            (3, 1, 0, 1, false),
            (3, 1, 2, 2, true),
        ] {
            let options = ConvOptions::new([s; 2], [p; 2], [d; 2], 1);
            let x = random([2, 5, 7, 9], 0.0, 1.0, 1, &device);
            let w = random([4, 5, k, k], 0.0, 1.0, 2, &device);
            let b = with_bias.then(|| random([4], 0.0, 1.0, 3, &device));
            let ours = conv2d(x.clone(), w.clone(), b.clone(), options.clone());
            let theirs = module::conv2d(x, w, b, options);
            assert_eq!(ours.dims(), theirs.dims(), "kernel {k} stride {s} padding {p} dilation {d}");
            let gap = max_difference(ours, theirs);
            assert!(gap < 1e-5, "kernel {k} stride {s} padding {p} dilation {d}: outputs differ by {gap}");
        }
    }

    /// A batch whose patches exceed one gather's budget is computed in pieces, in order.
    #[test]
    fn a_large_batch_is_gathered_in_pieces_in_order() {
        let device = Device::flex();
        let (channels, size) = (16, 32);
        let batch = PATCH_VALUES / (channels * 9 * size * size) + 2;
        let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let x = random([batch, channels, size, size], 0.0, 1.0, 4, &device);
        let w = random([3, channels, 3, 3], 0.0, 0.3, 5, &device);
        let b = Some(random([3], 0.0, 1.0, 6, &device));
        let gap =
            max_difference(conv2d(x.clone(), w.clone(), b.clone(), options.clone()), module::conv2d(x, w, b, options));
        assert!(gap < 1e-5, "{batch} images: outputs differ by {gap}");
    }
}
