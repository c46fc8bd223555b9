"""Lab 2's pneumothorax model on the synthetic radiographs: is the task hard, does the map point
at the disease, is it faithful to the model, and does the shortcut lesson hold?

For each seed, the lab's splits (1,000 training, 200 validation and 400 test images at 128 px,
about one in five positive) and the lab's GAP-CNN (`build_cam_cnn` defaults, `train_cam_cnn`,
the best validation epoch kept), then, by part (``--parts``, all by default):

* ``auc``: test AUC after ``--seconds`` (3 minutes; target 0.85-0.95), and after
  ``--long-seconds`` (10 minutes: the same model trained on; target at least 0.03 more);
* ``cues``: the cheap proxies of `phantom_baselines.py` (mean, standard deviation, left-right
  asymmetry, best single training pixel: |AUC - 0.5| <= 0.10 each; logistic regression on 32 x 32
  thumbnails: AUC <= 0.70);
* ``localisation``: on the test positives, at the lab's tolerance (15 px at 224 px, scaled), the
  CNN's pointing game (target >= 0.65 and >= 1.5x the better location prior) beside a random
  point and two location priors (the pixel most often in the training masks, target <= 0.30;
  the same per side with the side known, <= 0.45); the share of the map's energy in the mask
  (`energy_in_mask`) beside the same baselines as heat maps (a report);
* ``shortcut``: a second model trained on data with chest drains (default ``tube_rate``); the
  test positives that carry a drain, rendered with and without it, at the lab's triage rule
  (the strictest threshold whose sensitivity on the drain-carrying validation split is >= 0.95):
  the drain-trained model loses >= 25 points of sensitivity without the drain, the lab's model
  (trained without drains) <= 5; the share of CAM energy on the drain for both (a report);
* ``faithfulness``: deletion and insertion curves of the lab model's CAMs on the test positives
  (targets: deletion area below a random order's, insertion area above), and the
  model-randomisation check (a report);
* ``speed``: CAM throughput against a forward pass and the 2018 lab's one-image-at-a-time way
  (first seed only).

    python benchmarks/xray.py [--seeds 3] [--first-seed 0] [--seconds 180] [--long-seconds 600]
        [--shortcut-seconds 150] [--size 128] [--parts auc,cues,localisation,shortcut,...]

A per-seed line and a table with "met" / "not met" (per seed and for the medians over seeds) go
to stderr; one JSON line to stdout.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from scipy import special  # noqa: E402

from mitdeeplearning.xray import (  # noqa: E402
    build_cam_cnn,
    class_activation_maps,
    deletion_curve,
    energy_in_mask,
    insertion_curve,
    load_pneumothorax,
    location_prior,
    make_synthetic_cxr,
    mask_sides,
    pointing_game,
    randomization_check,
    roc,
    train_cam_cnn,
)

PARTS = ("auc", "cues", "localisation", "shortcut", "faithfulness", "speed")

#: name: (what it is, lowest allowed, highest allowed); a bound of None is open.
TARGETS = {
    "auc_3min": ("test AUC after --seconds", 0.85, 0.95),
    "auc_gain_long": ("test AUC gain from --seconds to --long-seconds", 0.03, None),
    "cue_mean_gap": ("|AUC - 0.5| of the image mean", None, 0.10),
    "cue_std_gap": ("|AUC - 0.5| of the standard deviation", None, 0.10),
    "cue_asymmetry_gap": ("|AUC - 0.5| of the left-right asymmetry", None, 0.10),
    "cue_best_pixel_gap": ("|AUC - 0.5| of the best training pixel", None, 0.10),
    "logistic_32px_auc": ("logistic regression on 32 x 32 thumbnails, AUC", None, 0.70),
    "prior_pixel": ("pointing game of the most-hit training pixel", None, 0.30),
    "prior_pixel_per_side": ("pointing game of the most-hit pixel, side known", None, 0.45),
    "pointing_game": ("pointing game of the CNN's CAM", 0.65, None),
    "pointing_over_best_prior": ("pointing game / better location prior", 1.5, None),
    "shortcut_sensitivity_drop": ("drain-trained model: sensitivity lost, points", 25.0, None),
    "no_drain_sensitivity_drop": ("drain-free model: sensitivity lost, points", None, 5.0),
    "deletion_gain": ("random deletion area - CAM deletion area", 1e-12, None),
    "insertion_gain": ("CAM insertion area - random insertion area", 1e-12, None),
}


def phantom_has_tube_masks() -> bool:
    """Whether `load_pneumothorax` can return the drains' masks (the reworked phantom)."""
    return "return_tube_masks" in inspect.signature(load_pneumothorax).parameters


def load_splits(seed: int, size: int, drains: bool) -> dict:
    """``{"train", "val", "test"}: (images, labels, masks)``; with `drains`, the data of the
    shortcut lesson, and ``"test_tubes"``: ``(n, size, size)`` bool, the test drains' pixels."""
    options = {"shortcut": "chest_tube"} if drains else {}
    if drains and phantom_has_tube_masks():
        options["return_tube_masks"] = True
    out = {s: load_pneumothorax("synthetic", s, size=size, seed=seed, **options) for s in
           ("train", "val", "test")}  # fmt: skip
    if drains:
        if phantom_has_tube_masks():
            out = {s: v[:3] for s, v in out.items()} | {"test_tubes": out["test"][3]}
        else:  # the old phantom: the drain is where the two renderings differ (as the lab does)
            free = load_pneumothorax("synthetic", "test", size=size, seed=seed)[0]
            out["test_tubes"] = np.abs(out["test"][0] - free)[..., 0] > 0.02
    return out


def probabilities(model, images: np.ndarray) -> np.ndarray:
    """``(n,)`` softmax probability of class 1 (pneumothorax)."""
    logits = model.predict(images, batch_size=128, verbose=0)
    return special.softmax(np.asarray(logits, np.float64), axis=1)[:, 1]


def train(model, data: dict, seconds: float, seed: int):
    """`train_cam_cnn` as the lab calls it, for `seconds`, the best validation epoch kept."""
    return train_cam_cnn(
        model, data["train"][0], data["train"][1], val=data["val"][:2], epochs=10_000,
        max_seconds=seconds, seed=seed, progress=False,
    )  # fmt: skip


def train_on(model, first, data: dict, seconds: float, seed: int) -> dict:
    """Train `model` (already trained, with result `first`) for `seconds` more. The toolkit
    recompiles (a fresh Adam) and keeps the best epoch of this call; the weights of the first
    call come back if none of these epochs beat it, as one long run would keep its best."""
    before = model.get_weights()
    more = train(model, data, seconds, seed + 1000)
    kept = more.best_val_auc is not None and more.best_val_auc > first.best_val_auc
    if not kept:
        model.set_weights(before)
    return {
        "long_train_seconds": round(first.seconds + more.seconds, 1),
        "long_epochs": first.epochs + more.epochs,
        "long_improved_on_val": bool(kept),
    }


def auc_of(model, split) -> float:
    return float(roc(split[1], probabilities(model, split[0]))[3])


def baselines():
    """`phantom_baselines.py`, beside this script: the cheap proxies, shared with it."""
    try:
        import phantom_baselines
    except ImportError as error:
        raise SystemExit(
            f"the parts cues and localisation need benchmarks/phantom_baselines.py ({error}); "
            "run the other parts with --parts auc,shortcut,faithfulness,speed."
        ) from error
    return phantom_baselines


def cues_part(data: dict) -> dict:
    """The cheap proxies of `phantom_baselines.py` on this seed's splits."""
    pb = baselines()

    train = (data["train"][0][..., 0], data["train"][1])
    test = (data["test"][0][..., 0], data["test"][1])
    cues = pb.trivial_cues(train, test)
    out = {f"cue_{k}_gap": abs(cues[k] - 0.5) for k in ("mean", "std", "asymmetry", "best_pixel")}
    out |= {f"cue_{k}_auc": cues[k] for k in ("mean", "std", "asymmetry", "best_pixel")}
    out["logistic_32px_auc"] = pb.logistic_thumbnails(train, test)
    return out


def prior_heat_maps(train_masks: np.ndarray, test_masks: np.ndarray) -> tuple:
    """``(overall, per_side)`` heat maps ``(n_test, H, W)``: how often each pixel is in the
    training masks, over all of them and over those on the test mask's side
    (`location_prior`)."""
    overall = np.broadcast_to(location_prior(train_masks), test_masks.shape)
    return overall, location_prior(train_masks, sides=mask_sides(test_masks))


def localisation_part(model, data: dict, seed: int) -> dict:
    """Pointing game and energy in the mask of the CAMs against a random point and the priors."""
    pb = baselines()

    images, labels, masks = data["test"]
    positives = labels == 1
    masks = masks[positives]
    train_masks = data["train"][2][data["train"][1] == 1]
    cams = class_activation_maps(model, images[positives], class_index=1)
    random_maps = np.random.default_rng(seed).random(masks.shape)
    priors = pb.location_priors(train_masks, masks)
    hits = float(pointing_game(cams, masks).mean())
    overall, per_side = prior_heat_maps(train_masks, masks)
    out = {
        "pointing_game": hits,
        "random_point": float(pointing_game(random_maps, masks).mean()),
        **priors,
        "pointing_over_best_prior": hits / max(max(priors.values()), 1e-9),
        "energy_cam": float(np.nanmean(energy_in_mask(cams, masks))),
        "energy_random": float(np.nanmean(energy_in_mask(random_maps, masks))),
        "energy_prior": float(np.nanmean(energy_in_mask(overall, masks))),
        "energy_prior_per_side": float(np.nanmean(energy_in_mask(per_side, masks))),
    }
    return out | {"test_positives": int(positives.sum())}


def triage_threshold(model, val) -> float:
    """The strictest threshold whose sensitivity on `val` is >= 0.95 (the lab's triage rule)."""
    from sklearn.metrics import roc_curve

    _, tpr, thresholds = roc_curve(val[1], probabilities(model, val[0]), drop_intermediate=False)
    return float(thresholds[np.argmax(tpr >= 0.95)])


def drain_effect(model, tubes: dict, free_test, prefix: str) -> dict:
    """Sensitivity at the triage threshold on the test positives with a drain, with and
    without it, and the share of the CAM's energy on the drain."""
    threshold = triage_threshold(model, tubes["val"])
    images, labels, _ = tubes["test"]
    drained = (labels == 1) & tubes["test_tubes"].any(axis=(1, 2))
    with_drain = probabilities(model, images[drained]) >= threshold
    without = probabilities(model, free_test[0][drained]) >= threshold
    cams = class_activation_maps(model, images[drained], class_index=1)
    on_drain = energy_in_mask(cams, tubes["test_tubes"][drained])
    return {
        f"{prefix}_threshold": threshold,
        f"{prefix}_sensitivity_with_drain": float(with_drain.mean()),
        f"{prefix}_sensitivity_without": float(without.mean()),
        f"{prefix}_sensitivity_drop": 100.0 * float(with_drain.mean() - without.mean()),
        f"{prefix}_energy_on_drain": float(np.nanmean(on_drain)),
    }


def shortcut_part(lab_model, data: dict, seed: int, size: int, seconds: float) -> dict:
    """Train on drains; test both models on drain-carrying positives with and without them."""
    tubes = load_splits(seed, size, drains=True)
    outside = ~tubes["test_tubes"]
    same = float(np.abs(tubes["test"][0][..., 0] - data["test"][0][..., 0])[outside].max())
    model = build_cam_cnn((size, size, 1), seed=seed)
    result = train(model, tubes, seconds, seed)
    labels, has = tubes["test"][1], tubes["test_tubes"].any(axis=(1, 2))
    out = {
        "shortcut_train_seconds": round(result.seconds, 1),
        "drain_rate_positives": float(has[labels == 1].mean()),
        "drain_rate_negatives": float(has[labels == 0].mean()),
        "drained_test_positives": int((has & (labels == 1)).sum()),
        "renderings_differ_off_drain": same,  # 0: the two renderings differ only on the drain
        "shortcut_auc_with_drains": auc_of(model, tubes["test"]),
        "shortcut_auc_drain_free": auc_of(model, data["test"]),
    }
    out |= drain_effect(model, tubes, data["test"], "shortcut")
    out |= drain_effect(lab_model, tubes, data["test"], "no_drain")
    return out


def faithfulness_part(model, data: dict, seed: int) -> dict:
    """Deletion and insertion areas of the CAMs against a random order; randomisation."""
    images, labels, _ = data["test"]
    positives = images[labels == 1]
    cams = class_activation_maps(model, positives, class_index=1)
    tic = time.perf_counter()
    deletion = deletion_curve(model, positives, cams, seed=seed)
    insertion = insertion_curve(model, positives, cams, seed=seed)
    seconds = time.perf_counter() - tic
    stages = randomization_check(model, positives, seed=seed)
    passes = 4 * len(positives) * len(deletion.fractions)
    return {
        "deletion_area": float(deletion.areas.mean()),
        "deletion_area_random": float(deletion.random_areas.mean()),
        "deletion_gain": float(deletion.random_areas.mean() - deletion.areas.mean()),
        "deletion_beats_random": float(deletion.beats_random.mean()),
        "insertion_area": float(insertion.areas.mean()),
        "insertion_area_random": float(insertion.random_areas.mean()),
        "insertion_gain": float(insertion.areas.mean() - insertion.random_areas.mean()),
        "insertion_beats_random": float(insertion.beats_random.mean()),
        "curves_images_per_s": round(passes / seconds, 1),
        "randomisation": {s.name: round(s.median, 3) for s in stages},
    }


def cam_throughput(model, images: np.ndarray, repeats: int = 3) -> dict:
    """Images per second: forward pass, batched CAM, and the 2018 lab's CAM."""
    import cv2

    forward = tf.function(lambda x: model(x, training=False))
    forward(images[:64])
    class_activation_maps(model, images[:64])

    def best_of(fn) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return len(images) / min(times)

    def forward_all():
        for i in range(0, len(images), 64):
            forward(images[i : i + 64]).numpy()

    # The 2018 way: per image, one pass for the feature maps, one for the prediction, and
    # the CAM summed over channels in NumPy, then resized.
    feature_model = keras.Model(model.inputs[0], model.get_layer("cam_features").output)
    weights = model.get_layer("cam_logits").get_weights()[0]

    def old_way(count: int = 32):
        start = time.perf_counter()
        for image in images[:count]:
            maps = feature_model(image[None], training=False).numpy()[0]
            logits = model(image[None], training=False).numpy()[0]
            cam = maps @ weights[:, int(np.argmax(logits))]
            cv2.resize(cam, images.shape[1:3], interpolation=cv2.INTER_LINEAR)
        return count / (time.perf_counter() - start)

    fwd = best_of(forward_all)
    cam = best_of(lambda: class_activation_maps(model, images))
    old = max(old_way() for _ in range(repeats))
    return {
        "forward_images_per_s": round(fwd, 1),
        "cam_images_per_s": round(cam, 1),
        "cam_cost_over_forward": round(fwd / cam, 2),
        "cam_2018_way_images_per_s": round(old, 1),
        "cam_speedup_over_2018_way": round(cam / old, 1),
    }


def run_seed(seed: int, args, parts: set) -> dict:
    keras.utils.set_random_seed(seed)
    tic = time.perf_counter()
    data = load_splits(seed, args.size, drains=False)
    out: dict = {"seed": seed, "data_seconds": round(time.perf_counter() - tic, 1)}
    if "cues" in parts:
        out |= cues_part(data)
    if not parts & {"auc", "localisation", "shortcut", "faithfulness", "speed"}:
        return out
    model = build_cam_cnn((args.size, args.size, 1), seed=seed)
    first = train(model, data, args.seconds, seed)
    out |= {"train_seconds": round(first.seconds, 1), "epochs": first.epochs,
            "auc_3min": auc_of(model, data["test"])}  # fmt: skip
    if "localisation" in parts:
        out |= localisation_part(model, data, seed)
    if "faithfulness" in parts:
        out |= faithfulness_part(model, data, seed)
    if "speed" in parts and seed == args.first_seed:  # the code's speed: one seed is enough
        out["cam"] = cam_throughput(model, data["test"][0])
    if "shortcut" in parts:
        out |= shortcut_part(model, data, seed, args.size, args.shortcut_seconds)
    if "auc" in parts and args.long_seconds > args.seconds:
        out |= train_on(model, first, data, args.long_seconds - args.seconds, seed)
        out["auc_long"] = auc_of(model, data["test"])
        out["auc_gain_long"] = out["auc_long"] - out["auc_3min"]
    return out


def verdict(name: str, value) -> str:
    _, low, high = TARGETS[name]
    ok = value is not None and (low is None or value >= low) and (high is None or value <= high)
    return "met" if ok else "not met"


def medians(runs: list[dict]) -> dict:
    """The median over seeds of every number the runs share (nested dicts too)."""
    out = {}
    for key, first in runs[0].items():
        values = [r.get(key) for r in runs]
        if isinstance(first, dict):
            out[key] = medians([v for v in values if isinstance(v, dict)])
        elif isinstance(first, int | float) and not isinstance(first, bool) and key != "seed":
            out[key] = statistics.median(v for v in values if v is not None)
    return out


def table(runs: list[dict], median: dict) -> tuple[str, dict]:
    """The human-readable table and ``{target: {"median", "verdict", "per_seed"}}``."""
    lines = [f"{'figure':62s}" + "".join(f"{'seed ' + str(r['seed']):>18s}" for r in runs)
             + f"{'median':>18s}"]  # fmt: skip
    verdicts = {}
    for name, (what, low, high) in TARGETS.items():
        if name not in median:
            continue
        bound = f"{'>= ' + str(low) if low is not None and low > 1e-9 else '> 0' if low else ''}"
        bound += f"{' and ' if bound and high else ''}{'<= ' + str(high) if high else ''}"
        cells = [(r.get(name), verdict(name, r.get(name))) for r in runs]
        cells.append((median[name], verdict(name, median[name])))
        verdicts[name] = {
            "target": bound,
            "median": round(median[name], 4),
            "verdict": cells[-1][1],
            "per_seed": [c[1] for c in cells[:-1]],
        }
        lines.append(f"{what + ' (' + bound + ')':62.62s}" + "".join(
            f"{'-' if v is None else f'{v:.3f}':>9s} {m:>8s}" for v, m in cells))  # fmt: skip
    reports = [k for k in median if k not in TARGETS and not isinstance(median[k], dict)]
    for key in reports:
        lines.append(f"{key:62.62s}" + "".join(
            f"{'-' if r.get(key) is None else f'{r[key]:.3f}':>18s}" for r in runs
        ) + f"{median[key]:>18.3f}")  # fmt: skip
    for key in ("randomisation", "cam"):
        for stage, value in median.get(key, {}).items():
            lines.append(f"{key + ': ' + stage:62.62s}" + "".join(
                f"{r.get(key, {}).get(stage, float('nan')):>18.3f}" for r in runs
            ) + f"{value:>18.3f}")  # fmt: skip
    return "\n".join(lines), verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=180.0, help="the lab model's training")
    parser.add_argument("--long-seconds", type=float, default=600.0,
                        help="total training of the same model for the longer AUC")  # fmt: skip
    parser.add_argument("--shortcut-seconds", type=float, default=150.0,
                        help="the drain-trained model's training (the lab's 150 s)")  # fmt: skip
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated, among {','.join(PARTS)}")  # fmt: skip
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if not parts <= set(PARTS):
        parser.error(f"--parts={args.parts!r}: unknown {sorted(parts - set(PARTS))}; "
                     f"expected some of {','.join(PARTS)}")  # fmt: skip

    start = time.perf_counter()
    make_synthetic_cxr(200, size=256, seed=99)
    phantom_rate = 200 / (time.perf_counter() - start)
    runs = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        runs.append(run_seed(seed, args, parts))
        print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    median = medians(runs)
    text, verdicts = table(runs, median)
    print(text, file=sys.stderr)
    result = {
        "benchmark": "xray",
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, TF {tf.__version__}",
        "size": args.size,
        "parts": sorted(parts),
        "seconds": args.seconds,
        "long_seconds": args.long_seconds,
        "shortcut_seconds": args.shortcut_seconds,
        "phantom_images_per_s_256px": round(phantom_rate, 1),
        "targets": verdicts,
        "median": median,
        "runs": runs,
        "wall_seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
