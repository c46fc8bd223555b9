"""Calibration of `check_tune` on real ABC collections, and on the same tunes corrupted.

For each music21 collection (O'Neill's, Ryan's, Aird's, Essen) it loads the tunes with
`load_tunes`, checks every one, and reports: how many tunes there are, the share `check_tune`
accepts (target: at least 95% for O'Neill's, Ryan's and Aird's; Essen's short songs often have
fewer than 8 bars, so its rate is only reported), the most common rejection reasons, and the share
accepted with no odd bar forgiven (``max_odd_bars=0``). Then it corrupts every accepted tune
twice by editing its text, as a barely trained model might: once dropping one note from each of
2 bars picked at random among the interior bars (not the first or the last bar), once
duplicating one note in each of 2 such bars. It reports the share of corrupted tunes rejected
(target: at least 90%), and the seconds `check_tune` takes per tune, next to music21's own parse
of the same tunes for scale.

    python benchmarks/music_check_calibration.py [--sample N] [--seed 0]

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import random
import statistics
import time
from collections import Counter

from mitdeeplearning.music import check_tune, corrupt_tune, load_tunes
from mitdeeplearning.music.stats import reason_kind

COLLECTIONS = ("oneills1850", "ryans-mammoth", "airds-airs", "essen")


def music21_parse_seconds(tunes: list[str]) -> float:
    """Median seconds music21 takes to parse one of `tunes` (the reference for speed)."""
    from music21 import converter

    times = []
    for tune in tunes:
        start = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()), contextlib.suppress(Exception):
            converter.parse(tune, format="abc")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def calibrate(name: str, sample: int | None, rng: random.Random) -> dict:
    tunes = load_tunes(name)
    loaded = len(tunes)
    if sample is not None and sample < loaded:
        tunes = rng.sample(tunes, sample)
    seconds, reasons = [], Counter()
    accepted, accepted_strict = [], 0
    for tune in tunes:
        start = time.perf_counter()
        verdict = check_tune(tune)
        seconds.append(time.perf_counter() - start)
        if verdict.valid:
            accepted.append(tune)
            accepted_strict += check_tune(tune, max_odd_bars=0).valid
        else:
            reasons[reason_kind(verdict.reason)] += 1
    rejected = {"drop": [0, 0], "add": [0, 0]}  # [rejected, corrupted]
    for tune in accepted:
        for mode in rejected:
            corrupted = corrupt_tune(tune, mode, rng)
            if corrupted is None:
                continue
            rejected[mode][1] += 1
            rejected[mode][0] += not check_tune(corrupted).valid
    both = [sum(v[0] for v in rejected.values()), sum(v[1] for v in rejected.values())]
    return {
        "tunes_loaded": loaded,
        "tunes_checked": len(tunes),
        "accepted": round(len(accepted) / len(tunes), 4),
        "accepted_no_odd_bar_allowed": round(accepted_strict / len(tunes), 4),
        "top_rejections": dict(reasons.most_common(6)),
        "corrupted_rejected": {
            "drop_a_note_in_2_bars": round(rejected["drop"][0] / max(rejected["drop"][1], 1), 4),
            "add_a_note_in_2_bars": round(rejected["add"][0] / max(rejected["add"][1], 1), 4),
            "both": round(both[0] / max(both[1], 1), 4),
            "corrupted_tunes": both[1],
        },
        "check_s_per_tune_median": round(statistics.median(seconds), 4),
        "check_s_per_tune_mean": round(statistics.fmean(seconds), 4),
        "music21_parse_s_per_tune_median": round(
            music21_parse_seconds(rng.sample(tunes, min(100, len(tunes)))), 4
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=int, default=None, help="tunes per collection (all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--collections", nargs="+", default=list(COLLECTIONS))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = time.perf_counter()
    results = {name: calibrate(name, args.sample, rng) for name in args.collections}
    print(
        json.dumps(
            {
                "benchmark": "music_check_calibration",
                "machine": f"{platform.machine()} {os.cpu_count()} cpu, "
                f"Python {platform.python_version()}",
                "seed": args.seed,
                "collections": results,
                "wall_s": round(time.perf_counter() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
