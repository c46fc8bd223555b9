"""Cheap difficulty proxies of the synthetic radiographs: what a trivial cue, a linear model or a
location prior gets on Lab 2's splits.

If one of them nearly solves the task, the lab's lessons (a CNN learns the disease, its maps
point at it) are false. On the lab's synthetic splits (1,000 training and 400 test images at
128 px, about one in five positive, as `load_pneumothorax` gives them), for each seed:

* trivial cues: the test AUC of the image mean, its standard deviation, the left-right
  asymmetry (absolute difference of the halves' means), and of the best single pixel (chosen
  by its training AUC, oriented by it): target ``|AUC - 0.5| <= 0.10`` each;
* logistic regression (scikit-learn defaults, more iterations) on 32 x 32 thumbnails (area
  averaging): target test AUC <= 0.70;
* location priors in the pointing game at the lab's tolerance (15 px at 224 px, scaled): the
  pixel the training masks cover most often (target <= 0.30), and the same per side with the
  side known (target <= 0.45);
* chest drains (``shortcut="chest_tube"``): the share of drain pixels inside the pneumothorax
  mask, over 200 positives that all have one (target < 0.25: a drain is evidence of treatment,
  not a drawing of the lesion).

A target is met when every seed meets it.

    python benchmarks/phantom_baselines.py [--seeds 3] [--first-seed 0] [--size 128]

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mitdeeplearning.xray import (  # noqa: E402
    load_pneumothorax,
    location_prior,
    mask_sides,
    pointing_game,
)

TARGETS = {
    "mean": ("abs_auc_gap", 0.10),
    "std": ("abs_auc_gap", 0.10),
    "asymmetry": ("abs_auc_gap", 0.10),
    "best_pixel": ("abs_auc_gap", 0.10),
    "logistic_32px": ("auc", 0.70),
    "prior_pixel": ("pointing", 0.30),
    "prior_pixel_per_side": ("pointing", 0.45),
    "tube_in_mask_share": ("share", 0.25),
}


def auc_columns(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """ROC AUC of each column of (n, k) scores for (n,) 0/1 labels (ties count one half)."""
    from scipy.stats import rankdata

    ranks = rankdata(scores, axis=0)
    positives = labels == 1
    count_pos, count_neg = positives.sum(), (~positives).sum()
    rank_sum = ranks[positives].sum(axis=0)
    return (rank_sum - count_pos * (count_pos + 1) / 2) / (count_pos * count_neg)


def trivial_cues(train, test) -> dict:
    """Test AUCs of the mean, std, asymmetry and the best training pixel."""
    (x_train, y_train), (x_test, y_test) = train, test
    half = x_test.shape[2] // 2

    def cues(x):
        left, right = x[:, :, :half].mean(axis=(1, 2)), x[:, :, half:].mean(axis=(1, 2))
        return np.stack([x.mean(axis=(1, 2)), x.std(axis=(1, 2)), np.abs(left - right)], 1)

    aucs = auc_columns(cues(x_test), y_test)
    pixel_aucs = auc_columns(x_train.reshape(len(x_train), -1), y_train)
    best = int(np.argmax(np.abs(pixel_aucs - 0.5)))
    sign = 1.0 if pixel_aucs[best] >= 0.5 else -1.0
    best_auc = auc_columns(sign * x_test.reshape(len(x_test), -1)[:, best : best + 1], y_test)[0]
    return {
        "mean": float(aucs[0]),
        "std": float(aucs[1]),
        "asymmetry": float(aucs[2]),
        "best_pixel": float(best_auc),
        "best_pixel_train": float(max(pixel_aucs[best], 1 - pixel_aucs[best])),
    }


def logistic_thumbnails(train, test, side: int = 32) -> float:
    """Test AUC of logistic regression on (side x side) thumbnails."""
    import cv2
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    def thumbs(x):
        return np.stack(
            [cv2.resize(im, (side, side), interpolation=cv2.INTER_AREA).ravel() for im in x]
        )

    (x_train, y_train), (x_test, y_test) = train, test
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegression(max_iter=5000).fit(thumbs(x_train), y_train)
    scores = model.decision_function(thumbs(x_test))
    return float(auc_columns(scores[:, None], y_test)[0])


def location_priors(train_masks: np.ndarray, test_masks: np.ndarray) -> dict:
    """Pointing game of the pixel most often in the training masks, overall and per side (the
    package's `location_prior`, scored as a map: its maximum is that pixel)."""
    overall = np.broadcast_to(location_prior(train_masks), test_masks.shape)
    per_side = location_prior(train_masks, sides=mask_sides(test_masks))
    return {
        "prior_pixel": float(pointing_game(overall, test_masks).mean()),
        "prior_pixel_per_side": float(pointing_game(per_side, test_masks).mean()),
    }


def tube_in_mask_share(seed: int, size: int, count: int = 200) -> float:
    """Share of drain pixels inside the pneumothorax masks, `count` positives with a drain."""
    from mitdeeplearning.xray import make_synthetic_cxr

    _, _, masks, tubes = make_synthetic_cxr(
        count, size=size, seed=seed, positive_fraction=1.0, shortcut="chest_tube",
        tube_rate=(1.0, 0.0), return_tube_masks=True,
    )  # fmt: skip
    return float((tubes & masks).sum() / max(tubes.sum(), 1))


def run_seed(seed: int, size: int) -> dict:
    """Every proxy on one seed's training and test splits."""
    train_images, train_labels, train_masks = load_pneumothorax(
        "synthetic", "train", size=size, seed=seed
    )
    test_images, test_labels, test_masks = load_pneumothorax(
        "synthetic", "test", size=size, seed=seed
    )
    train = (train_images[..., 0], train_labels)
    test = (test_images[..., 0], test_labels)
    result = {"seed": seed, "test_positives": int(test_labels.sum())}
    result |= trivial_cues(train, test)
    result["logistic_32px"] = logistic_thumbnails(train, test)
    result |= location_priors(train_masks[train_labels == 1], test_masks[test_labels == 1])
    result["tube_in_mask_share"] = tube_in_mask_share(seed, size)
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}


def verdicts(per_seed: list[dict]) -> dict:
    """ "met" / "not met" per target: met when every seed meets it."""
    out = {}
    for name, (kind, limit) in TARGETS.items():
        values = [r[name] for r in per_seed]
        worst = max(abs(v - 0.5) for v in values) if kind == "abs_auc_gap" else max(values)
        out[name] = {
            "target": f"|AUC-0.5|<={limit}" if kind == "abs_auc_gap" else f"<={limit}",
            "kind": kind,
            "worst": round(worst, 3),
            "median": round(statistics.median(values), 3),
            "verdict": "met" if worst <= limit else "not met",
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    start = time.perf_counter()
    per_seed = [
        run_seed(s, args.size) for s in range(args.first_seed, args.first_seed + args.seeds)
    ]
    result = {
        "benchmark": "phantom_baselines",
        "size": args.size,
        "per_seed": per_seed,
        "targets": verdicts(per_seed),
        "seconds": round(time.perf_counter() - start, 1),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_version()}",
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
