"""Sums CubeCL's per-kernel GPU times (the profiling log `scripts/gpu/bench.sh profile` writes
with CUBECL_DEBUG_OPTION=profile: one "| <duration> | <kernel>" line per launch) into a table:
the kernels that take the most GPU time over the profiled steps, with launches and share.
--baseline subtracts a shorter run's log of the same command, which leaves exactly the extra
training steps (both runs validate and draw images at their start and end).

    python3 bench/kernel_profile.py runs/profile-20.log --baseline runs/profile-10.log --steps 10 [--top 25]
"""

import argparse
import re
from collections import defaultdict

UNITS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
LINE = re.compile(r"^\|\s*([0-9.]+)(ns|µs|us|ms|s)\s*\|\s*(.+?)\s*$")


def read(log):
    """GPU seconds and launches per kernel name."""
    total, launches = defaultdict(float), defaultdict(int)
    for line in open(log, encoding="utf-8", errors="replace"):
        m = LINE.match(line.strip())
        if m:
            total[m[3]] += float(m[1]) * UNITS[m[2]]
            launches[m[3]] += 1
    if not total:
        raise SystemExit(f"{log}: no kernel timings (was CUBECL_DEBUG_OPTION=profile set?)")
    return total, launches


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("log")
    p.add_argument("--steps", type=int, required=True, help="training steps the log covers beyond the baseline's (for per-step figures)")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--baseline", help="a shorter run's log, subtracted kernel by kernel")
    a = p.parse_args()
    total, launches = read(a.log)
    if a.baseline:
        base_total, base_launches = read(a.baseline)
        for name in base_total:
            total[name] -= base_total[name]
            launches[name] -= base_launches[name]
        total = {k: v for k, v in total.items() if launches[k] > 0}
    all_s, all_n = sum(total.values()), sum(launches[k] for k in total)
    print(f"{all_n / a.steps:.0f} kernel launches and {1e3 * all_s / a.steps:.1f} ms of GPU time per step ({a.steps} steps, {len(total)} kernels)")
    print(f"{'ms/step':>8} {'share':>6} {'launches/step':>13}  kernel")
    for name, s in sorted(total.items(), key=lambda kv: -kv[1])[: a.top]:
        print(f"{1e3 * s / a.steps:8.2f} {100 * s / all_s:5.1f}% {launches[name] / a.steps:13.1f}  {name[:160]}")


if __name__ == "__main__":
    main()
