"""Floating-point operations of the shipped models per image, counted by PyTorch's
FlopCounterMode on the twin (matmuls and convolutions, forward and backward; elementwise ops
and normalisation are not counted, so these are a floor), and what a measured throughput
means against a card's peak. The counts do not depend on the device; run it anywhere.

    python3 bench/torch/flops.py [--batch 64] [--images-per-second 1216 --peak-tflops 67]
"""

import argparse
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from hypernoise_torch import batch_loss, load_generator, load_reward, objective_terms

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"


def count(fn):
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=64, help="fit's batch (counts are per image)")
    p.add_argument("--images-per-second", type=float, help="a measured one-step generation throughput")
    p.add_argument("--steps-per-second", type=float, help="a measured fit throughput at --batch")
    p.add_argument("--peak-tflops", type=float, help="the card's peak for the precision used (H100/H200 SXM f32: 67)")
    a = p.parse_args()
    g = load_generator(WEIGHTS / "generator.safetensors", WEIGHTS / "hypernoise.safetensors")
    r = load_reward(WEIGHTS / "reward.safetensors")
    n = a.batch
    z = torch.randn(n, 3, 64, 64)
    tokens = torch.randint(1, 10, (n, 12))
    # fit trains only the adapters; the generator and the reward are frozen
    for name, w in g.named_parameters():
        w.requires_grad_(".lora." in f".{name}")
    r.requires_grad_(False)

    def fit_step():
        reg, rew = objective_terms(g, r, z, tokens)
        batch_loss(reg, rew, 1.0).backward()

    def reno_step():
        x = z.clone().requires_grad_(True)
        r(g.one_step(x, tokens), tokens).sum().backward()

    with torch.no_grad():
        rows = {
            "g(z): one-step generation": count(lambda: g.one_step(z, tokens)),
            "f(z): the noise hypernetwork": count(lambda: g.noise_offset(z, tokens)),
            "r(x): the learned reward": count(lambda: r(z, tokens)),
        }
    rows["HyperNoise: g(z + f(z))"] = rows["g(z): one-step generation"] + rows["f(z): the noise hypernetwork"]
    rows["fit step (f, g, r forward; backward to the adapters)"] = count(fit_step)
    rows["ReNO step (g, r forward; backward to the noise)"] = count(reno_step)
    print(f"GFLOP per image (batch {n}; matmuls and convolutions):")
    for name, flops in rows.items():
        print(f"  {name:55} {flops / n / 1e9:8.3f}")
    for what, rate, per_item in [
        ("generation", a.images_per_second, rows["g(z): one-step generation"] / n),
        ("fit", a.steps_per_second and a.steps_per_second * n, rows["fit step (f, g, r forward; backward to the adapters)"] / n),
    ]:
        if rate:
            achieved = rate * per_item / 1e12
            share = f", {100 * achieved / a.peak_tflops:.1f}% of {a.peak_tflops:g}" if a.peak_tflops else ""
            print(f"{what}: {rate:g} images/s = {achieved:.2f} TFLOP/s{share}")


if __name__ == "__main__":
    main()
