"""Lab 2's pneumothorax model on the synthetic radiographs: accuracy, localisation and speed.

For each seed: synthetic train / validation / test splits (about one image in five positive, as
in real data), a GAP-CNN trained for a fixed time at 128 px, then on the test split the ROC AUC,
the pointing game of its Class Activation Maps on the positives next to a random-point
baseline, and CAM throughput as a ratio to a plain forward pass and to the 2018 lab's way (one
image at a time, the feature maps and the CAM in separate passes). With ``--shortcut``, a
second model trains on data where chest tubes go with the label and is tested on tube-free
images: the AUC it reports on its own kind of data against the one it really has.

    python benchmarks/xray.py [--seeds 3] [--first-seed 0] [--seconds 180] [--size 128] [--shortcut]

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
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from mitdeeplearning.xray import (  # noqa: E402
    build_cam_cnn,
    class_activation_maps,
    load_pneumothorax,
    make_synthetic_cxr,
    pointing_game,
    roc,
    train_cam_cnn,
)


def random_point_baseline(masks: np.ndarray, seed: int = 0) -> float:
    """Pointing-game rate of a map whose maximum falls at a random pixel of the image."""
    rng = np.random.default_rng(seed)
    maps = rng.random(masks.shape).astype("float32")
    return float(pointing_game(maps, masks).mean())


def cam_throughput(model, images: np.ndarray, repeats: int = 3) -> dict:
    """Images per second: forward pass, batched CAM, and the 2018 lab's CAM."""
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
    features_layer = model.get_layer("cam_features")
    feature_model = keras.Model(model.inputs, features_layer.output)
    dense = model.get_layer("cam_logits")
    weights = dense.get_weights()[0]
    import cv2

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


def run(seed: int, seconds: float, size: int, shortcut: str | None, tube_free_test) -> dict:
    keras.utils.set_random_seed(seed)
    train = load_pneumothorax("synthetic", "train", size=size, seed=seed, shortcut=shortcut)
    val = load_pneumothorax("synthetic", "val", size=size, seed=seed, shortcut=shortcut)
    test = tube_free_test if tube_free_test is not None else load_pneumothorax(
        "synthetic", "test", size=size, seed=seed
    )  # fmt: skip
    model = build_cam_cnn((size, size, 1), seed=seed)
    result = train_cam_cnn(
        model, train[0], train[1], val=val[:2], epochs=1000, max_seconds=seconds, seed=seed,
        progress=False,
    )  # fmt: skip
    images, labels, masks = test
    cams, logits = class_activation_maps(model, images, class_index=1, return_logits=True)
    score = logits[:, 1] - logits[:, 0]
    auc = roc(labels, score)[3]
    positives = labels == 1
    hits = pointing_game(cams[positives], masks[positives])
    out = {
        "seed": seed,
        "train_seconds": round(result.seconds, 1),
        "epochs": result.epochs,
        "test_auc": round(float(auc), 4),
        "pointing_game": round(float(hits.mean()), 3),
        "random_point_pointing_game": round(random_point_baseline(masks[positives], seed), 3),
        "test_images": int(len(labels)),
        "test_positives": int(positives.sum()),
    }
    if shortcut is not None:
        own = load_pneumothorax("synthetic", "test", size=size, seed=seed, shortcut=shortcut)
        own_logits = class_activation_maps(model, own[0], class_index=1, return_logits=True)[1]
        out["auc_on_data_with_tubes"] = round(
            float(roc(own[1], own_logits[:, 1] - own_logits[:, 0])[3]), 4
        )
    return out, model, images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--shortcut", action="store_true", help="also train with chest tubes")
    args = parser.parse_args()

    start = time.perf_counter()
    make_synthetic_cxr(200, size=256, seed=99)
    phantom_rate = 200 / (time.perf_counter() - start)

    runs, model, images = [], None, None
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        out, model, images = run(seed, args.seconds, args.size, None, None)
        runs.append(out)
        print(json.dumps(out), file=sys.stderr)
    result = {
        "benchmark": "xray",
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, TF {tf.__version__}",
        "size": args.size,
        "phantom_images_per_s_256px": round(phantom_rate, 1),
        "runs": runs,
        "median_test_auc": statistics.median(r["test_auc"] for r in runs),
        "median_pointing_game": statistics.median(r["pointing_game"] for r in runs),
        "pointing_game_range": [
            min(r["pointing_game"] for r in runs),
            max(r["pointing_game"] for r in runs),
        ],  # fmt: skip
        "cam": cam_throughput(model, images),
    }
    if args.shortcut:
        tube_free = load_pneumothorax("synthetic", "test", size=args.size, seed=0)
        result["shortcut_chest_tube"] = run(0, args.seconds, args.size, "chest_tube", tube_free)[0]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
