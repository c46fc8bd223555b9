"""The failure gallery: which cases are the worst, and how each is named at a threshold."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mitdeeplearning.xray import plot_failures, worst_cases  # noqa: E402


def test_worst_cases_are_the_lowest_positives_and_the_highest_negatives():
    labels = np.array([1, 0, 1, 0, 1, 0, 1])
    p = np.array([0.9, 0.8, 0.1, 0.2, 0.5, 0.8, 0.1])
    positives, negatives = worst_cases(labels, p, count=3)
    assert positives.tolist() == [2, 6, 4]  # lowest first, ties in index order
    assert negatives.tolist() == [1, 5, 3]  # highest first, ties in index order
    few_positives, _ = worst_cases(labels, p, count=10)
    assert few_positives.tolist() == [2, 6, 4, 0]  # at most count: all there are


@pytest.mark.parametrize(
    ("labels", "p", "count", "message"),
    [
        ([1, 2], [0.1, 0.2], 1, "0s and 1s"),
        ([1, 0], [0.1], 1, "one per label"),
        ([1, 0], [0.1, np.nan], 1, "NaN"),
        ([1, 0], [0.1, 0.2], 0, "count=0"),
    ],
)
def test_worst_cases_refuses_bad_arguments(labels, p, count, message):
    with pytest.raises(ValueError, match=message):
        worst_cases(labels, p, count=count)


def test_plot_failures_names_each_case_by_its_decision_at_the_threshold():
    rng = np.random.default_rng(0)
    images = rng.random((5, 16, 16, 1))
    cams = rng.normal(size=(5, 16, 16))
    labels = np.array([1, 1, 0, 0, 0])
    p = np.array([0.05, 0.6, 0.9, 0.3, 0.5])
    masks = np.zeros((5, 16, 16), bool)
    masks[:2, 4:8, 4:8] = True
    fig = plot_failures(images, cams, labels, p, threshold=0.5, masks=masks)
    titles = [ax.get_title(loc="left") for ax in fig.axes if ax.get_title(loc="left")]
    assert titles == ["missed, p = 0.05", "caught, p = 0.60", "false alarm, p = 0.90",
                      "cleared, p = 0.30", "false alarm, p = 0.50"]  # fmt: skip
    assert len(fig.axes) == 2 * 6  # two rows (positives, negatives), three cases of two panels
    assert sum(len(ax.collections) for ax in fig.axes) >= 4  # both positives outlined twice
    only_negatives = plot_failures(images[2:], cams[2:], labels[2:], p[2:], threshold=0.95)
    assert len(only_negatives.axes) == 6  # one row
    with pytest.raises(ValueError, match="one case per label"):
        plot_failures(images, cams[:3], labels, p, threshold=0.5)
    with pytest.raises(ValueError, match="threshold"):
        plot_failures(images, cams, labels, p, threshold=float("nan"))
    plt.close("all")
