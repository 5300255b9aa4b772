"""GPU time of a convolution's backward pass as burn 0.22 composes it, against cuDNN's own
backward kernels (aten::convolution_backward, what PyTorch's autograd runs), for every
convolution of the generator's U-Net at fit's batch.

burn's generic backward (burn-backend's conv.rs, which burn-tch does not override) computes the
input gradient as a transposed convolution, the weight gradient as a convolution of the input
with batch and channels swapped by the output gradient with batch and channels swapped (a kernel
as large as the image), and the bias gradient as a swap, a reshape and a sum.

    python3 bench/torch/conv_grad.py [--batch 64] [--json out.json]
"""
import argparse
import json

import torch
import torch.nn.functional as F


def unet_convolutions(resolution=64, channels=(32, 64, 128, 128), inputs=3 + 8):
    """(name, c_in, c_out, kernel, stride, input side) of every convolution of the U-Net
    (shared/src/generator/unet.rs): the stem, each level's residual blocks down and up (a 1x1
    skip where the widths differ), the strided downsamplings, the upsamplings and the output."""
    convs = [("stem", inputs, channels[0], 3, 1, resolution)]

    def block(name, cin, cout, side):
        convs.append((f"{name}.conv1", cin, cout, 3, 1, side))
        convs.append((f"{name}.conv2", cout, cout, 3, 1, side))
        if cin != cout:
            convs.append((f"{name}.skip", cin, cout, 1, 1, side))

    levels = len(channels)
    for level, k in enumerate(channels):
        side = resolution >> level
        block(f"down{level}", k, k, side)
        if level + 1 < levels:
            convs.append((f"downsample{level}", k, channels[level + 1], 3, 2, side))
    block("mid", channels[-1], channels[-1], resolution >> (levels - 1))
    for level in reversed(range(levels)):
        side = resolution >> level
        block(f"up{level}", 2 * channels[level], channels[level], side)
        if level > 0:
            convs.append((f"upsample{level - 1}", channels[level], channels[level - 1], 3, 1, side * 2))
    convs.append(("out", channels[0], 3, 3, 1, resolution))
    return convs


def burn_backward(x, w, grad, stride, padding):
    """Input, weight and bias gradients as burn 0.22's generic backward computes them."""
    out_pad = x.shape[2] - ((grad.shape[2] - 1) * stride - 2 * padding + w.shape[2])
    dx = F.conv_transpose2d(grad, w, None, stride, padding, out_pad)
    dw = F.conv2d(x.transpose(0, 1), grad.transpose(0, 1), None, 1, padding, stride).transpose(0, 1)
    dw = dw[:, :, : w.shape[2], : w.shape[3]]
    db = grad.transpose(0, 1).reshape(grad.shape[1], -1).sum(1)
    return dx, dw, db


def cudnn_backward(x, w, grad, stride, padding):
    """The same three gradients from one aten::convolution_backward."""
    return torch.ops.aten.convolution_backward(
        grad, x, w, [w.shape[0]], [stride] * 2, [padding] * 2, [1, 1], False, [0, 0], 1, [True, True, True])


def gpu_ms(fn, reps):
    for _ in range(3):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / reps


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--json")
    a = p.parse_args()
    torch.backends.cudnn.benchmark = True  # as the trainer sets it; TF32 stays at LibTorch's defaults
    rows, totals = [], {"burn": 0.0, "cudnn": 0.0}
    for name, cin, cout, k, stride, side in unet_convolutions():
        x = torch.randn(a.batch, cin, side, side, device="cuda")
        w = torch.randn(cout, cin, k, k, device="cuda")
        grad = torch.randn(a.batch, cout, side // stride, side // stride, device="cuda")
        ref = cudnn_backward(x, w, grad, stride, k // 2)
        ours = burn_backward(x, w, grad, stride, k // 2)
        gap = max(float((r - o).abs().max() / r.abs().max()) for r, o in zip(ref, ours))
        row = {"conv": name, "shape": [cin, cout, k, stride, side], "relative_gap": gap}
        for method, fn in (("burn", burn_backward), ("cudnn", cudnn_backward)):
            row[f"{method}_ms"] = gpu_ms(lambda: fn(x, w, grad, stride, k // 2), a.reps)
            totals[method] += row[f"{method}_ms"]
        rows.append(row)
        print(f"{name:14s} {cin:4d}->{cout:4d} k{k} s{stride} {side:3d}px  burn {row['burn_ms']:.3f} ms  "
              f"cudnn {row['cudnn_ms']:.3f} ms  (results agree to {gap:.1e})")
    print(f"all {len(rows)} convolutions, batch {a.batch}: burn's backward {totals['burn']:.2f} ms, "
          f"cuDNN's {totals['cudnn']:.2f} ms ({torch.cuda.get_device_name()})")
    if a.json:
        json.dump({"card": torch.cuda.get_device_name(), "batch": a.batch, "torch": torch.__version__,
                   "total_ms": totals, "rows": rows}, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
