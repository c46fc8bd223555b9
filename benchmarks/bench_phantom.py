"""Speed of the synthetic chest radiographs (`mitdeeplearning.xray.make_synthetic_cxr`).

Target: at least 100 images/s at 256 x 256 on one core, so the lab's few thousand training
images take seconds. OpenCV is limited to one thread; the figure is the median of --repeats
runs of --n images each (after one warm-up call that builds the cached noise fields).

    python benchmarks/bench_phantom.py [--n 500] [--size 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="images per run")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shortcut", default=None, choices=[None, "chest_tube"])
    args = parser.parse_args()

    import cv2

    from mitdeeplearning.xray import make_synthetic_cxr

    cv2.setNumThreads(1)  # one core: the figure must not depend on how many there are
    make_synthetic_cxr(4, size=args.size)  # warm-up: imports, cached grids and noise fields
    rates, cpu_rates = [], []
    for repeat in range(args.repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        make_synthetic_cxr(args.n, size=args.size, seed=repeat, shortcut=args.shortcut)
        rates.append(args.n / (time.perf_counter() - wall))
        cpu_rates.append(args.n / (time.process_time() - cpu))
    result = {
        "benchmark": "phantom",
        "images_per_s": round(statistics.median(rates), 1),
        "cpu_images_per_s": round(statistics.median(cpu_rates), 1),
        "size": args.size,
        "n": args.n,
        "repeats": args.repeats,
        "shortcut": args.shortcut,
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_version()}",
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
