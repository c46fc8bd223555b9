"""Lab 2's check of the core of a deletion curve, `deletion_scores`.

Right answers written other ways (a loop over the steps, one batch, the argsort of the negated
map, np.argpartition's chunks, TensorFlow) pass, whatever order they break ties in; each typical
mistake fails with its own hint; the package's `xray.deletion_curve` refuses to stand in. The
check's reference is pinned to the package's curve.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage

from mitdeeplearning import grading, xray
from mitdeeplearning.grading.lab2_faithfulness import deletion_reference, pixel_probability

# ## Right answers, written other ways -------------------------------------------------------------


def deletion_scores(probability, image, baseline, saliency, steps):  # the notebook's solution
    order = np.argsort(saliency, axis=None)[::-1]  # most salient first
    chunk = saliency.size // steps
    images = [image]
    for k in range(1, steps + 1):
        removed = order[: k * chunk]
        x = image.reshape(-1).copy()
        x[removed] = baseline.reshape(-1)[removed]
        images.append(x.reshape(image.shape))
    return probability(np.stack(images))


def loop_deletion(probability, image, baseline, saliency, steps):  # one call per step, in place
    order = np.argsort(-saliency.ravel(), kind="stable")
    chunk = saliency.size // steps
    x = image.copy().reshape(-1, 1)
    scores = [float(probability(image[None])[0])]
    for k in range(steps):
        removed = order[k * chunk : (k + 1) * chunk]
        x[removed] = baseline.reshape(-1, 1)[removed]
        scores.append(float(probability(x.reshape(1, *image.shape))[0]))
    return scores


def batched_deletion(probability, image, baseline, saliency, steps):  # masks by rank, one batch
    ranks = np.empty(saliency.size, int)
    ranks[np.argsort(-saliency, axis=None)] = np.arange(saliency.size)
    counts = np.arange(steps + 1) * (saliency.size // steps)
    removed = (ranks[None, :] < counts[:, None]).reshape(steps + 1, *saliency.shape, 1)
    return probability(np.where(removed, baseline[None], image[None]).astype("float32"))


def argpartition_deletion(probability, image, baseline, saliency, steps):  # chunk by chunk
    flat, chunk = -saliency.ravel(), saliency.size // steps
    images, x = [image], image.copy().reshape(-1)
    left = np.arange(flat.size)
    for _ in range(steps):
        if len(left) > chunk:
            part = np.argpartition(flat[left], chunk - 1)[:chunk]
        else:
            part = np.arange(len(left))
        x[left[part]] = baseline.reshape(-1)[left[part]]
        left = np.delete(left, part)
        images.append(x.reshape(image.shape).copy())
    return np.asarray(probability(np.stack(images)))


def tensorflow_deletion(probability, image, baseline, saliency, steps):
    order = tf.argsort(tf.reshape(saliency, [-1]), direction="DESCENDING")
    ranks = tf.scatter_nd(order[:, None], tf.range(tf.size(order)), [tf.size(order)])
    counts = tf.range(steps + 1) * (tf.size(order) // steps)
    removed = tf.reshape(ranks[None, :] < counts[:, None], [steps + 1, *saliency.shape, 1])
    return probability(tf.where(removed, baseline[None], image[None]))


RIGHT = [deletion_scores, loop_deletion, batched_deletion, argpartition_deletion]
RIGHT += [tensorflow_deletion]


@pytest.mark.parametrize("answer", RIGHT, ids=[a.__name__ for a in RIGHT])
def test_right_answers_written_other_ways_pass(answer, capsys):
    checks = grading.fresh()
    checks.check_deletion_scores(answer)
    checks.check_deletion_scores(answer, seed=4)
    assert capsys.readouterr().out.count("\N{CHECK MARK} deletion_scores replaces") == 2


def test_ties_may_go_in_any_order(capsys):
    # deletion_scores takes the last of tied pixels first, loop_deletion the first (above);
    # this one a random order each time.
    def random_ties(probability, image, baseline, saliency, steps):
        noise = np.random.default_rng().random(saliency.shape) * 1e-9  # reorders ties only
        return deletion_scores(probability, image, baseline, saliency + noise, steps)

    checks = grading.fresh()
    for _ in range(3):
        checks.check_deletion_scores(random_ties)
    assert capsys.readouterr().out.count("\N{CHECK MARK}") == 3


def test_the_reference_is_the_packages_deletion_curve():
    rng = np.random.default_rng(0)
    height, width, steps, sigma = 12, 16, 6, 1.5
    image = rng.random((height, width, 1)).astype("float32")
    saliency = rng.random((height, width))
    weights = rng.normal(size=(height, width)) * 4
    probability = pixel_probability(weights, bias=0.3)

    def logits(x):  # softmax([0, z])[1] = sigmoid(z)
        z = np.log(probability(x)) - np.log1p(-probability(x))
        return np.stack([np.zeros_like(z), z], axis=1)

    package = xray.deletion_curve(
        logits, image[None], saliency[None], steps=steps + 1, blur_sigma=sigma, random_order=False
    )
    blurred = ndimage.gaussian_filter(image, (sigma, sigma, 0), mode="reflect")
    order = np.argsort(-saliency, axis=None)
    ours = deletion_reference(probability, image, blurred, order, steps)
    np.testing.assert_allclose(ours, package.curves[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(package.fractions, np.arange(steps + 1) / steps)


# ## Mistakes, each with its own hint --------------------------------------------------------------


def least_salient_first(probability, image, baseline, saliency, steps):
    return deletion_scores(probability, image, baseline, -saliency, steps)


def set_to_zero(probability, image, baseline, saliency, steps):
    return deletion_scores(probability, image, np.zeros_like(image), saliency, steps)


def one_chunk_at_a_time(probability, image, baseline, saliency, steps):
    order, chunk = np.argsort(-saliency, axis=None), saliency.size // steps
    images = [image]
    for k in range(steps):
        x = image.reshape(-1).copy()
        removed = order[k * chunk : (k + 1) * chunk]
        x[removed] = baseline.reshape(-1)[removed]
        images.append(x.reshape(image.shape))
    return probability(np.stack(images))


def without_the_untouched_image(probability, image, baseline, saliency, steps):
    return deletion_scores(probability, image, baseline, saliency, steps)[1:]


def one_short(probability, image, baseline, saliency, steps):
    return deletion_scores(probability, image, baseline, saliency, steps)[:-1]


def one_image_at_a_time(probability, image, baseline, saliency, steps):
    return [probability(image)]  # not a batch


MISTAKES = [
    (least_salient_first, "Remove the most salient pixels first (the highest saliency)"),
    (set_to_zero, "Replace the removed pixels by the baseline's, not by 0."),
    (one_chunk_at_a_time, "Keep the pixels removed at earlier steps removed"),
    (without_the_untouched_image, "return steps + 1 = 5: the untouched image's first"),
    (one_short, "deletion_scores returned 4 probabilities; return steps + 1 = 5"),
    (one_image_at_a_time, "probability takes a batch of images of shape (n, 8, 8, 1); got shape"),
]


@pytest.mark.parametrize(("answer", "hint"), MISTAKES, ids=[a.__name__ for a, _ in MISTAKES])
def test_mistakes_fail_with_their_own_hint(answer, hint):
    checks = grading.fresh()
    with pytest.raises(checks.GradingError, match=re.escape(hint)):
        checks.check_deletion_scores(answer)


def test_with_ties_the_first_and_last_points_are_still_checked():
    def starts_from_the_baseline(probability, image, baseline, saliency, steps):
        scores = np.asarray(deletion_scores(probability, image, baseline, saliency, steps))
        if len(np.unique(saliency)) < saliency.size:  # only the case with ties
            scores[0] = probability(baseline[None])[0]
        return scores

    checks = grading.fresh()
    with pytest.raises(checks.GradingError, match="it should be the untouched image's"):
        checks.check_deletion_scores(starts_from_the_baseline)


# ## The package refuses to stand in ---------------------------------------------------------------


def package_deletion(probability, image, baseline, saliency, steps):
    def logits(x):
        p = np.asarray(probability(x), dtype=float)
        return np.stack([np.zeros_like(p), np.log(p) - np.log1p(-p)], axis=1)

    result = xray.deletion_curve(logits, image[None], saliency[None], steps=steps + 1)
    return result.curves[0]


def hidden_package_deletion(probability, image, baseline, saliency, steps):
    curve = getattr(xray, "deletion" + "_curve")  # a name the reading cannot see
    logits = lambda x: np.stack([np.zeros(len(x)), np.asarray(probability(x))], 1)  # noqa: E731
    return curve(logits, image[None], saliency[None], steps=steps + 1).curves[0]


@pytest.mark.parametrize("answer", [package_deletion, hidden_package_deletion])
def test_the_packages_deletion_curve_refuses_to_stand_in(answer):
    checks = grading.fresh()
    refused = "this exercise asks you to write it yourself: `xray.deletion_curve` is for later"
    with pytest.raises(AssertionError, match=re.escape(refused)):
        checks.check_deletion_scores(answer)


def test_a_check_is_fast(capsys):
    checks = grading.fresh()
    checks.check_deletion_scores(deletion_scores)  # warm
    start = time.perf_counter()
    checks.check_deletion_scores(deletion_scores)
    assert time.perf_counter() - start < 0.5
    with pytest.raises(checks.GradingError, match="not implemented yet"):
        checks.check_deletion_scores(lambda *args: (_ for _ in ()).throw(NotImplementedError()))
