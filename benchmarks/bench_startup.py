"""Start-up cost of `import mitdeeplearning` and `mitdl --help`, against bare Python.

Target: both stay under ~0.5 s, i.e. they never import TensorFlow (whose import is shown for
scale). Each command runs in a fresh interpreter; medians over --repeats runs.

    python benchmarks/bench_startup.py [--repeats 7] [--no-tensorflow]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python_bare": [sys.executable, "-c", "pass"],
    "import_mitdeeplearning": [sys.executable, "-c", "import mitdeeplearning"],
    "mitdl_help": [sys.executable, "-m", "mitdeeplearning", "--help"],
    "mitdl_datasets": [sys.executable, "-m", "mitdeeplearning", "datasets"],
    "import_tensorflow": [sys.executable, "-c", "import tensorflow"],
}


def run(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-tensorflow", action="store_true", help="skip the TF reference")
    args = parser.parse_args()
    commands = dict(COMMANDS)
    if args.no_tensorflow:
        commands.pop("import_tensorflow")
    times = {name: [] for name in commands}
    for _ in range(args.repeats):  # interleaved, so machine noise hits every command alike
        for name, cmd in commands.items():
            times[name].append(run(cmd))
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "benchmark": "startup",
        "repeats": args.repeats,
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_version()}",
        "median_s": {k: round(v, 3) for k, v in med.items()},
        "import_over_bare_s": round(med["import_mitdeeplearning"] - med["python_bare"], 3),
        "help_over_bare_s": round(med["mitdl_help"] - med["python_bare"], 3),
    }
    if "import_tensorflow" in med:
        result["help_vs_import_tensorflow"] = round(med["mitdl_help"] / med["import_tensorflow"], 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
