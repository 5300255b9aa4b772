"""Checks the PyTorch twin (hypernoise_torch.py) against the Rust models: recomputes from the
inputs of `trainer export-reference` (noise z, prompt tokens) every output it wrote, with the
shipped weights, and fails if any differs by more than --tolerance.

Error of an output: relative L2 per batch item, ||torch - rust|| / ||rust|| over the item's
elements (for one number per item, |torch - rust| / |rust|), the largest over the batch.
"""

import argparse
import sys
from pathlib import Path

import torch

from hypernoise_torch import batch_loss, load_generator, load_reward, objective_terms, read_safetensors

REPO = Path(__file__).resolve().parents[2]


def relative_error(ours, reference):
    """Largest per-item relative L2 error."""
    ours, reference = ours.reshape(reference.shape[0], -1).double(), reference.reshape(reference.shape[0], -1).double()
    return ((ours - reference).norm(dim=1) / reference.norm(dim=1)).max().item()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference", default="/tmp/ref/reference.safetensors", help="trainer export-reference's file")
    p.add_argument("--weights", default=REPO / "weights", type=Path, help="folder of generator, hypernoise and reward .safetensors")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--tolerance", default=1e-3, type=float)
    a = p.parse_args()
    # exact f32 products: cuDNN convolutions default to TF32 on Ampere and later (~1e-3 error)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    ref, meta = read_safetensors(a.reference)
    generator = load_generator(a.weights / "generator.safetensors", a.weights / "hypernoise.safetensors").to(a.device)
    reward = load_reward(a.weights / "reward.safetensors").to(a.device)
    z, tokens = ref["z"].to(a.device), ref["tokens"].long().to(a.device)
    with torch.no_grad():
        offset = generator.noise_offset(z, tokens)
        reg, r = objective_terms(generator, reward, z, tokens)
        ours = {
            "base_image": generator.one_step(z, tokens),
            "offset": offset,
            "hypernoise_image": generator.one_step(z + offset, tokens),
            "reward": r,
            "regulariser": reg,
            "loss": batch_loss(reg, r, float(meta["reg_weight"])).reshape(1),
        }

    print(f"{len(z)} prompts on {a.device}: {meta['prompts']}")
    print("max relative L2 error per batch item:")
    failed = []
    for name, value in ours.items():
        if value.shape != ref[name].shape:
            sys.exit(f"{name}: shape {tuple(value.shape)}, the reference's {tuple(ref[name].shape)}")
        err = relative_error(value.cpu(), ref[name])
        print(f"  {name:17} {str(tuple(ref[name].shape)):17} {err:.2e}")
        if not err <= a.tolerance:  # NaN fails too
            failed.append(name)
    if failed:
        sys.exit(f"above {a.tolerance:g}: {', '.join(failed)}")
    print(f"all within {a.tolerance:g}")


if __name__ == "__main__":
    main()
