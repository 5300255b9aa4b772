// The weight gradient of a convolution as PyTorch's autograd computes it, ATen's
// convolution_backward (cuDNN's weight-gradient kernels on CUDA), for src/ops/conv.rs: tch 0.22
// wraps no operation that returns it. Tensors cross as tch's handles (`at::Tensor*`); a failure
// comes back as a message in `error`.
#include <ATen/ATen.h>
#include <cstring>

extern "C" int hypernoise_conv2d_weight_gradient(const at::Tensor* grad, const at::Tensor* x, const at::Tensor* weight,
                                                 const int64_t* stride, const int64_t* padding,
                                                 const int64_t* dilation, int64_t groups, at::Tensor** gradient,
                                                 char* error, size_t error_capacity) {
  try {
    auto result = at::convolution_backward(*grad, *x, *weight, at::OptionalIntArrayRef(), at::IntArrayRef(stride, 2),
                                           at::IntArrayRef(padding, 2), at::IntArrayRef(dilation, 2),
                                           /*transposed=*/false, /*output_padding=*/{0, 0}, groups,
                                           /*output_mask=*/{false, true, false});
    *gradient = new at::Tensor(std::get<1>(result));
    return 0;
  } catch (const std::exception& e) {
    std::strncpy(error, e.what(), error_capacity - 1);
    error[error_capacity - 1] = '\0';
    return 1;
  }
}
