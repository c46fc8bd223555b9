"""Similar answers: a copy is found however it was renamed, reformatted or reordered; honest
answers written independently are not; answers too short or too common are skipped and said to
be. The answers are the kind students write for Lab 2's ``roc_curve`` and ``compute_cams``."""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mitdeeplearning.instructor.names import bound_in
from mitdeeplearning.instructor.similarity import (
    Settings,
    answer_cells,
    find_similar,
    fingerprints,
    normalized_tokens,
    similar_answers,
    statement_tokens,
)
from mitdeeplearning.instructor.submission import prepare_submission, read_releases

RELEASES = Path(__file__).resolve().parents[2] / "labs" / "release"

ROC_BASE = """\
def roc_curve(labels, scores):
    labels, scores = np.asarray(labels), np.asarray(scores)
    # YOUR CODE HERE
    raise NotImplementedError()
"""
CAMS_BASE = """\
def compute_cams(features, weights, class_index):
    # YOUR CODE HERE
    raise NotImplementedError()
"""

#: Correct ROC curves written independently, each its own way.
HONEST_ROC = {
    "ana": """def roc_curve(labels, scores):
    labels, scores = np.asarray(labels), np.asarray(scores)
    thresholds = np.r_[np.inf, np.unique(scores)[::-1]]  # np.unique sorts ascending
    positives, negatives = scores[labels == 1], scores[labels == 0]
    tpr = np.array([(positives >= t).mean() for t in thresholds])
    fpr = np.array([(negatives >= t).mean() for t in thresholds])
    return fpr, tpr, thresholds
""",
    "ben": """def roc_curve(labels, scores):
    labels, scores = np.asarray(labels), np.asarray(scores)
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_labels = scores[order], labels[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(scores) - 1]
    tp = np.cumsum(sorted_labels == 1)[last_of_tie]
    fp = np.cumsum(sorted_labels == 0)[last_of_tie]
    tpr = np.r_[0.0, tp / max(1, (labels == 1).sum())]
    fpr = np.r_[0.0, fp / max(1, (labels == 0).sum())]
    return fpr, tpr, np.r_[np.inf, sorted_scores[last_of_tie]]
""",
    "chi": """def roc_curve(labels, scores):
    labels, scores = np.asarray(labels), np.asarray(scores)
    n_pos = np.sum(labels == 1)
    n_neg = np.sum(labels == 0)
    thresholds = [np.inf] + sorted(set(scores.tolist()), reverse=True)
    fpr, tpr = [], []
    for threshold in thresholds:
        predicted = scores >= threshold
        tp = np.sum(predicted & (labels == 1))
        fp = np.sum(predicted & (labels == 0))
        tpr.append(tp / n_pos)
        fpr.append(fp / n_neg)
    return np.array(fpr), np.array(tpr), np.array(thresholds)
""",
    "dev": """def roc_curve(labels, scores):
    labels, scores = np.asarray(labels), np.asarray(scores)
    cuts = np.concatenate([[np.inf], np.sort(np.unique(scores))[::-1]])
    above = scores[None, :] >= cuts[:, None]  # (thresholds, patients)
    sick = labels == 1
    tpr = above[:, sick].sum(axis=1) / sick.sum()
    fpr = above[:, ~sick].sum(axis=1) / (~sick).sum()
    return fpr, tpr, cuts
""",
    "eve": """def roc_curve(labels, scores):
    labels, scores = np.asarray(labels), np.asarray(scores)
    distinct = np.unique(scores)
    thresholds = np.empty(len(distinct) + 1)
    thresholds[0] = np.inf
    thresholds[1:] = distinct[::-1]
    fpr = np.zeros(len(thresholds))
    tpr = np.zeros(len(thresholds))
    i = 0
    while i < len(thresholds):
        flagged = scores >= thresholds[i]
        tpr[i] = np.count_nonzero(flagged[labels == 1]) / np.count_nonzero(labels == 1)
        fpr[i] = np.count_nonzero(flagged[labels == 0]) / np.count_nonzero(labels == 0)
        i += 1
    return fpr, tpr, thresholds
""",
    "fay": """def roc_curve(labels, scores):
    labels, scores = np.asarray(labels), np.asarray(scores)
    P = (labels == 1).sum()
    N = len(labels) - P
    ths = np.append(np.inf, np.flip(np.unique(scores)))
    rates = []
    for th in ths:
        y_hat = (scores >= th).astype(int)
        rates.append(((y_hat * (1 - labels)).sum() / N, (y_hat * labels).sum() / P))
    fpr, tpr = map(np.array, zip(*rates))
    return fpr, tpr, ths
""",
}

#: chi's answer with every name changed, other line breaks and parentheses, comments, a
#: docstring and a blank line.
RENAMED_COPY = '''def roc_curve(labels, scores):
    """My ROC curve."""
    labels, scores = np.asarray(labels), np.asarray(scores)
    num_sick = np.sum( labels==1 )   # positives
    num_healthy = np.sum(labels == 0)
    cut_points = [np.inf] + sorted(
        set(scores.tolist()),
        reverse=True,
    )
    false_rates, true_rates = [], []
    for cut in cut_points:
        # who is flagged at this cut
        flagged = (scores >= cut)
        hits = np.sum(flagged & (labels == 1))
        false_alarms = np.sum(flagged & (labels == 0))
        true_rates.append(hits / num_sick)
        false_rates.append(false_alarms / num_healthy)

    return (np.array(false_rates), np.array(true_rates), np.array(cut_points))
'''

#: dev's answer with its statements in another order, renamed, with a line of padding.
REORDERED_COPY = """def roc_curve(labels, scores):
    labels, scores = np.asarray(labels), np.asarray(scores)
    positive = labels == 1
    grid = np.concatenate([[np.inf], np.sort(np.unique(scores))[::-1]])
    fpr_unused = None
    hit = scores[None, :] >= grid[:, None]
    false_rate = hit[:, ~positive].sum(axis=1) / (~positive).sum()
    true_rate = hit[:, positive].sum(axis=1) / positive.sum()
    return false_rate, true_rate, grid
"""

#: The one line nearly everyone writes for the class activation maps, and a few other ways.
CAMS = {
    "ana": "def compute_cams(features, weights, class_index):\n"
    '    return np.einsum("nhwk,k->nhw", features, weights[:, class_index])\n',
    "ben": "def compute_cams(features, weights, class_index):\n"
    "    return np.einsum('nhwk,k->nhw', features, weights[:, class_index])  # CAM\n",
    "chi": "def compute_cams(features, weights, class_index):\n"
    '    w = weights[:, class_index]\n    return np.einsum("bhwc,c->bhw", features, w)\n',
    "dev": "def compute_cams(features, weights, class_index):\n"
    '    return np.einsum("nhwk,k->nhw", np.asarray(features), weights[:, class_index])\n',
    "eve": "def compute_cams(features, weights, class_index):\n"
    "    return features @ weights[:, class_index]\n",
    "fay": "def compute_cams(features, weights, class_index):\n"
    '    return np.einsum("nhwk,k->nhw", features, weights[:, class_index])\n',
}


def _roc_class(**extra: str) -> dict[str, dict[str, str]]:
    return {"roc": {**HONEST_ROC, **extra}}


def _pairs(found) -> set[tuple[str, tuple[str, str]]]:
    return {(p.exercise, p.students) for p in found.pairs}


# ## Normalising ---------------------------------------------------------------------------------


def test_renaming_reformatting_comments_and_docstrings_change_no_token():
    assert normalized_tokens(HONEST_ROC["chi"]) == normalized_tokens(RENAMED_COPY)


def test_what_a_copy_keeps_still_tells_answers_apart():
    # Attribute names, keywords and builtins stay: np.cumsum is not np.mean.
    assert normalized_tokens("y = np.cumsum(x)") != normalized_tokens("y = np.mean(x)")
    assert normalized_tokens("f(x, axis=1)") != normalized_tokens("f(x, keepdims=1)")
    assert normalized_tokens("n = len(x)") != normalized_tokens("n = abs(x)")
    assert normalized_tokens("t = int") != normalized_tokens("t = 3")  # a type, a constant
    # A builtin the answer rebinds is a name like any other.
    assert normalized_tokens("len = 3\ny = len") == normalized_tokens("k = 3\ny = k")


def test_cells_with_magics_and_code_that_does_not_parse_are_still_compared():
    assert "Call" in normalized_tokens("%time x = np.sort(scores)\ny = x[::-1]")
    broken = "def roc_curve(labels, scores)\n    fpr = np.cumsum(labels == 0\n"
    renamed = "def roc_curve(labels, scores)\n    rate = np.cumsum(labels==0\n"
    assert normalized_tokens(broken) == normalized_tokens(renamed)
    assert "Name" in normalized_tokens(broken) and "(" in normalized_tokens(broken)


def test_fingerprints_are_winnowed_and_the_same_in_every_interpreter():
    statements = statement_tokens(HONEST_ROC["ben"])
    every = fingerprints(statements, k=8, window=1)
    winnowed = fingerprints(statements, k=8, window=4)
    assert winnowed <= every and len(winnowed) < len(every) / 2
    assert fingerprints([s[:4] for s in statements], k=8) == set()
    # Python's own str hashes change with PYTHONHASHSEED; the fingerprints must not.
    script = (
        "import sys; from mitdeeplearning.instructor.similarity import fingerprints, "
        "statement_tokens as t; print(sorted(fingerprints(t(sys.stdin.read()))))"
    )
    printed = {
        subprocess.run(
            [sys.executable, "-c", script],
            input=HONEST_ROC["ben"],
            text=True,
            capture_output=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout  # fmt: skip
        for seed in ("1", "2")
    }
    assert printed == {f"{sorted(winnowed)}\n"}


# ## Comparing a class ---------------------------------------------------------------------------


def test_a_renamed_reformatted_copy_is_flagged_and_independent_answers_are_not():
    found = find_similar(_roc_class(gus=RENAMED_COPY), {"roc": ROC_BASE})
    assert _pairs(found) == {("roc", ("chi", "gus"))}
    (pair,) = found.pairs
    assert pair.similarity == 1.0 and pair.shared == pair.sizes[0] == pair.sizes[1]
    assert found.compared == {"roc": 7} and found.short == {"roc": []}


def test_independent_answers_stay_well_below_the_threshold():
    anything = Settings(threshold=0.01, min_fingerprints=1)
    loose = find_similar(_roc_class(), {"roc": ROC_BASE}, settings=anything)
    assert loose.pairs, "independent answers share a few forms"
    assert max(p.similarity for p in loose.pairs) < 0.3


def test_a_copy_with_statements_reordered_and_padded_is_flagged():
    found = find_similar(_roc_class(hal=REORDERED_COPY), {"roc": ROC_BASE})
    assert _pairs(found) == {("roc", ("dev", "hal"))}
    assert found.pairs[0].similarity >= Settings().threshold


def test_the_one_line_everyone_writes_is_skipped_not_flagged():
    found = find_similar({"cams": CAMS}, {"cams": CAMS_BASE})
    assert found.pairs == []  # ana and fay wrote the very same line
    assert found.short == {"cams": sorted(CAMS)}
    assert found.compared == {"cams": 0}
    # Compared regardless, the same line would be a "copy": the skip is what prevents it.
    raw = find_similar({"cams": CAMS}, {"cams": CAMS_BASE}, settings=Settings(min_fingerprints=1))
    assert ("cams", ("ana", "fay")) in _pairs(raw)


def test_a_form_shared_by_much_of_the_class_is_common_not_evidence():
    # Seven students hand in the same answer (a solution that went round): not one pair of
    # them, nor of anyone else, is listed, and the seven are counted as skipped.
    same = {f"s{i}": HONEST_ROC["ana"] for i in range(7)}
    found = find_similar({"roc": {**HONEST_ROC, **same}}, {"roc": ROC_BASE})
    assert found.pairs == []
    assert set(found.short["roc"]) >= set(same)
    # Three is a small group, not "the class": they are flagged.
    trio = {f"s{i}": HONEST_ROC["ana"] for i in range(2)}
    found = find_similar({"roc": {**HONEST_ROC, **trio}}, {"roc": ROC_BASE})
    assert _pairs(found) == {("roc", ("ana", "s0")), ("roc", ("ana", "s1")),
                             ("roc", ("s0", "s1"))}  # fmt: skip
    # One answer passed round is one group in the summary, not a row per two of them.
    assert "| roc | ana, s0, s1 | 100% | 3 of 3 |" in found.markdown()
    assert found.markdown().count("| roc |") == 2  # the group and the exercise's counts


def test_groups_join_pairs_that_share_a_student():
    pairs = find_similar(
        {"roc": {**HONEST_ROC, "gus": RENAMED_COPY, "hal": REORDERED_COPY, "ivy": RENAMED_COPY},
         "odd|name": {"a|b": RENAMED_COPY, "c": HONEST_ROC["chi"]}},
        {"roc": ROC_BASE},
    )  # fmt: skip
    groups = [(exercise, students, len(inside)) for exercise, students, inside in pairs.groups()]
    assert groups == [("odd|name", ["a|b", "c"], 1), ("roc", ["chi", "gus", "ivy"], 3),
                      ("roc", ["dev", "hal"], 1)]  # fmt: skip
    # A "|" in a name does not break the table.
    assert "| odd\\|name | a\\|b, c | 100% | 1 of 1 |" in pairs.markdown()


DELETION_BASE = """\
def deletion_scores(model, image, saliency, steps, baseline):
    order = np.argsort(-np.asarray(saliency).ravel(), kind="stable")
    pixels = order.size
    removed_share = np.linspace(0.0, 1.0, steps + 1)
    # YOUR CODE HERE
    raise NotImplementedError()
"""


#: Two ways to write the deletion curve's core, after the lines `DELETION_BASE` gives.
LOOPED_DELETION = """\
    batch = []
    for i in range(steps + 1):
        removed = np.zeros(pixels, bool)
        removed[order[: int(round(removed_share[i] * pixels))]] = True
        batch.append(np.where(removed.reshape(np.shape(saliency))[..., None], baseline, image))
    return model.predict(np.stack(batch), verbose=0)[:, 1]
"""
VECTORISED_DELETION = """\
    counts = np.round(removed_share * pixels).astype(int)
    ranks = np.empty(pixels, int)
    ranks[order] = np.arange(pixels)
    masks = (ranks[None, :] < counts[:, None]).reshape((-1, *np.shape(saliency), 1))
    images = np.where(masks, baseline, image[None])
    return model.predict(images, verbose=0)[:, 1]
"""
GIVEN_DELETION = DELETION_BASE.split("    # YOUR CODE HERE")[0]


def test_the_releases_own_code_is_never_evidence():
    # Two answers alike only in the lines the release gives them.
    looped, vectorised = GIVEN_DELETION + LOOPED_DELETION, GIVEN_DELETION + VECTORISED_DELETION
    answers = {"deletion": {"a": looped, "b": vectorised}}
    anything = Settings(threshold=0.01, min_fingerprints=2)
    assert find_similar(answers, settings=anything).pairs, "the given lines alone are shared"
    assert find_similar(answers, {"deletion": DELETION_BASE}, settings=anything).pairs == []


def test_the_section_states_the_threshold_the_pairs_and_what_was_skipped():
    exercises = {**_roc_class(gus=RENAMED_COPY), "cams": CAMS}
    found = find_similar(exercises, {"roc": ROC_BASE, "cams": CAMS_BASE}, students=9)
    text = found.markdown()
    assert text.startswith("## Similar answers\n")
    assert "not a penalty" in text and "at least 70%" in text
    assert "| roc | chi, gus | 100% | 1 of 1 |" in text
    assert "| roc | 7 | 0 | 2 |" in text and "| cams | 0 | 6 | 3 |" in text
    assert json.loads(json.dumps(found.as_json()))["pairs"][0]["students"] == ["chi", "gus"]
    nothing = find_similar(_roc_class(), {"roc": ROC_BASE}).markdown()
    assert "No pair of answers above the threshold." in nothing


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [("threshold", 0, "threshold=0"), ("threshold", 1.5, "threshold=1.5"),
     ("k", 0, "k=0"), ("common_floor", 1, "common_floor=1"), ("common_share", 0, "common_share")],
)  # fmt: skip
def test_settings_that_make_no_sense_are_refused_by_name(field, value, named):
    with pytest.raises(ValueError, match=named):
        Settings(**{field: value})


def test_hostile_answers_neither_stop_nor_stall_the_comparison():
    deep = "def roc_curve(labels, scores):\n    return " + "1 + " * 20_000 + "1\n"
    answers = {
        "deep": deep,  # deeper than Python builds a syntax tree
        "deeper": "x = " + "1 + " * 2_000 + "1",  # a tree, deeper than the walk's recursion
        "parens": "x = " + "(" * 300 + "1" + ")" * 300,  # deeper than Python's parser
        "null": "x = np.sum(labels)\x00\n",
        "huge": "def roc_curve(labels, scores):\n" + "    fpr = np.cumsum(labels == 0)\n" * 20_000,
        **HONEST_ROC,
        "copy": RENAMED_COPY,
    }
    tic = time.perf_counter()
    found = find_similar({"roc": answers}, {"roc": ROC_BASE})
    assert time.perf_counter() - tic < 10
    assert ("roc", ("chi", "copy")) in _pairs(found)
    assert normalized_tokens(deep)[:4] == ["def", "Name", "(", "Name"]  # compared on its words
    assert normalized_tokens(answers["deeper"])[:3] == ["Name", "=", "#number"]


def test_malformed_notebooks_give_no_answers_instead_of_an_error():
    weird = {"cells": [
        1, {"cell_type": "code", "metadata": [], "source": [3]},
        {"cell_type": "code", "metadata": {"nbgrader": {"solution": True, "grade_id": ["x"]}}},
        {"cell_type": "code", "metadata": {"nbgrader": {"solution": True, "grade_id": "roc"}},
         "source": ["a = 1\n", 5, None]},
    ]}  # fmt: skip
    assert answer_cells(weird) == {"roc": "a = 1\n"}
    assert answer_cells("[" * 100_000 + "]" * 100_000) == {}
    assert answer_cells('{"cells": 3}') == answer_cells("not json") == {}


def _renamed(source: str, suffix: str) -> str:
    names = bound_in(ast.parse(source)) - {"roc_curve", "labels", "scores"}
    return re.sub(r"\b(" + "|".join(sorted(names)) + r")\b", r"\1" + suffix, source)


@pytest.mark.slow
def test_a_class_of_300_is_compared_well_within_a_minute():
    # Ten exercises; each student writes one of six ways in names of their own (each way is
    # shared by a sixth of the class: common), and one pair copies an answer no one else wrote.
    ways = list(HONEST_ROC.values())
    exercises = {
        f"ex{e}": {f"s{i:03d}": _renamed(ways[(i + e) % 6], f"_{i}") for i in range(300)}
        for e in range(10)
    }
    exercises["ex3"]["s007"] = GIVEN_DELETION + LOOPED_DELETION
    exercises["ex3"]["s250"] = _renamed(GIVEN_DELETION + LOOPED_DELETION, "_copied")
    tic = time.perf_counter()
    found = find_similar(exercises, {f"ex{e}": ROC_BASE for e in range(10)})
    seconds = time.perf_counter() - tic
    assert seconds < 60, f"{seconds:.1f} s for 300 students"
    assert _pairs(found) == {("ex3", ("s007", "s250"))}
    assert sum(len(short) for short in found.short.values()) == 300 * 10 - 2


# ## From the notebooks autograde prepares --------------------------------------------------------


def _answered(release: dict, answers: dict[str, str]) -> dict:
    notebook = copy.deepcopy(release)
    for cell in notebook["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell["source"] = answers[grade_id]
    return notebook


def test_lab2_submissions_as_autograde_prepares_them(tmp_path):
    releases = read_releases(RELEASES, "lab2")
    ((_, name), release) = next(iter(releases.items()))
    students = {sid: {"roc": roc, "cams": CAMS[sid]} for sid, roc in HONEST_ROC.items()}
    students["gus"] = {"roc": RENAMED_COPY, "cams": CAMS["eve"]}
    students["hal"] = {}  # handed in the release untouched
    prepared = {}
    for sid, answers in students.items():
        notebook = _answered(release, answers)
        if sid == "gus":  # from Colab: the grading metadata is gone, the repair finds the cells
            for cell in notebook["cells"]:
                cell.get("metadata", {}).pop("nbgrader", None)
                cell.pop("id", None)
        path = tmp_path / sid / name
        path.parent.mkdir()
        path.write_text(json.dumps(notebook), encoding="utf-8")
        prepared[sid], _ = prepare_submission([path], "lab2", releases)
    assert answer_cells(prepared["gus"][name])["roc"] == RENAMED_COPY
    assert answer_cells(prepared["hal"][name]) == {}
    found = similar_answers(prepared, releases)
    assert _pairs(found) == {("roc", ("chi", "gus"))}
    assert found.missing["roc"] == 1 and found.compared["roc"] == 7
    assert "| roc | chi, gus |" in found.markdown()
