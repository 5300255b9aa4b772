"""Times the PyTorch twin on a GPU, eager and torch.compile'd, for the same work the Rust
trainer does: a `fit` step (f, g and r forward, backward to the LoRA adapters, global-norm
clip, SGD with momentum) at fit's batch, and one-step generation at batch 1 and a large batch;
plus the card's measured f32 matmul ceiling. Writes one JSON file (scripts/gpu/bench.sh puts it
next to the Rust numbers).

    python3 bench/torch/bench.py --out torch.json [--batch 64] [--device cuda] [--profile ops.txt] [--group-norm composed]

--profile also writes the eager fit step's operators by GPU time (torch.profiler, 10 steps), to
set beside the Rust trainer's kernels (bench/kernel_profile.py).

Precision: f32 with TF32 off (the Rust trainer computes in f32), so both run the same
arithmetic; the ceiling is also measured with TF32 on and in bf16, for scale.
"""

import argparse
import json
import os
import time
from pathlib import Path

import torch

import hypernoise_torch
from hypernoise_torch import batch_loss, load_generator, load_reward, objective_terms

# the models timed: the repository's weights/, or HYPERNOISE_WEIGHTS (a folder of the same files)
WEIGHTS = Path(os.environ.get("HYPERNOISE_WEIGHTS", Path(__file__).resolve().parents[2] / "weights"))


def median_seconds(fn, device, warmup, iters):
    """Median wall time of fn() over `iters` runs after `warmup` untimed ones, synchronised."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def matmul_tflops(device, dtype, n, iters):
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    s = median_seconds(lambda: a @ b, device, 3, iters)
    return 2 * n**3 / s / 1e12


def fit_stepper(generator, reward, batch, lr, reg_weight, compiled, device):
    """One training step of fit on fresh noise and fixed prompt tokens."""
    adapters = [w for name, w in generator.named_parameters() if ".lora." in f".{name}"]
    for name, w in generator.named_parameters():
        w.requires_grad_(".lora." in f".{name}")
    reward.requires_grad_(False)
    opt = torch.optim.SGD(adapters, lr=lr, momentum=0.9)
    vocab = generator.prompt.tokens.weight.shape[0]
    tokens = torch.randint(1, vocab, (batch, 12), device=device)

    def loss(z, tokens):
        reg, r = objective_terms(generator, reward, z, tokens)
        return batch_loss(reg, r, reg_weight)

    loss_fn = torch.compile(loss) if compiled else loss

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(torch.randn(batch, 3, 64, 64, device=device), tokens).backward()
        torch.nn.utils.clip_grad_norm_(adapters, 1.0)
        opt.step()

    return step


def profile_steps(step, device, out, steps=10):
    activities = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if device == "cuda" else [])
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        if device == "cuda":
            torch.cuda.synchronize()
    key = "self_cuda_time_total" if device == "cuda" else "self_cpu_time_total"
    out.write_text(f"{steps} eager fit steps\n" + prof.key_averages().table(sort_by=key, row_limit=30, max_name_column_width=70))
    print(f"wrote {out}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch", type=int, default=64, help="fit's batch")
    p.add_argument("--gen-batches", default="1,256")
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--modes", default="eager,compiled")
    p.add_argument("--profile", type=Path, help="write the eager fit step's operators by GPU time here")
    p.add_argument("--group-norm", choices=["fused", "composed"], default="fused",
                   help="torch's GroupNorm kernels, or GroupNorm op by op as burn computes it")
    a = p.parse_args()
    if a.group_norm == "composed":
        hypernoise_torch.GroupNorm = hypernoise_torch.ComposedGroupNorm
    dev = a.device
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True  # the best convolution algorithm per shape, like burn's autotune
    result = {
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name() if dev == "cuda" else "cpu",
        "precision": "f32, TF32 off",
        "group_norm": a.group_norm,
        "fit_batch": a.batch,
        "rows": [],
    }

    def record(what, mode, batch, seconds, unit_per_s):
        row = {"what": what, "mode": mode, "batch": batch, "median_seconds": seconds, **unit_per_s}
        result["rows"].append(row)
        print(json.dumps(row), flush=True)

    for mode in a.modes.split(","):
        compiled = mode == "compiled"
        g = load_generator(WEIGHTS / "generator.safetensors", WEIGHTS / "hypernoise.safetensors").to(dev)
        r = load_reward(WEIGHTS / "reward.safetensors").to(dev)
        t0 = time.perf_counter()
        step = fit_stepper(g, r, a.batch, 1e-3, 1.0, compiled, dev)
        step()
        warm = time.perf_counter() - t0
        s = median_seconds(step, dev, 5, a.iters)
        record("fit step", mode, a.batch, s, {"steps_per_second": 1 / s, "first_step_seconds": warm})
        if a.profile and not compiled:
            profile_steps(step, dev, a.profile)
        g.requires_grad_(False)
        one_step = torch.compile(g.one_step) if compiled else g.one_step
        vocab = g.prompt.tokens.weight.shape[0]
        for n in map(int, a.gen_batches.split(",")):
            z = torch.randn(n, 3, 64, 64, device=dev)
            tokens = torch.randint(1, vocab, (n, 12), device=dev)
            with torch.no_grad():
                s = median_seconds(lambda: one_step(z, tokens), dev, 5, a.iters)
            record("generation g(z)", mode, n, s, {"images_per_second": n / s})

    if dev == "cuda":
        for name, dtype, tf32 in [("f32", torch.float32, False), ("tf32", torch.float32, True), ("bf16", torch.bfloat16, False)]:
            torch.backends.cuda.matmul.allow_tf32 = tf32
            tflops = matmul_tflops(dev, dtype, 8192, 20)
            result[f"matmul_8192_tflops_{name}"] = tflops
            print(f"matmul 8192^3 {name}: {tflops:.1f} TFLOP/s", flush=True)
    a.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
