"""Similar answers at class scale: `mitdeeplearning.instructor.similarity` on 300 synthetic
students of Lab 2, with copies planted among them, against comparing every pair directly.

Each student hands in Lab 2's release notebook with every code exercise answered. Per exercise:

* most students write an answer of their own: a random program of 4 to 9 statements over
  NumPy calls, methods, slices and arithmetic, on the exercise's own arguments (independent by
  construction, so every pair flagged among them is a false flag);
* a share (15 %, above the 10 % that makes a form common) write the lab's own solution word
  for word (the form everyone converges on: common, never evidence);
* some pairs are planted copies: the second student's answer is the first's with every name
  changed, its statements reordered where they do not depend on each other, reformatted by
  `ast.unparse`, with comments and an unused line added.

Prints one JSON line: seconds for `similar_answers` (from the prepared notebooks' JSON text to
the pairs; median of `--repeats`), of which fingerprinting, and the comparison through the
inverted index against the same fingerprints compared pair by pair (the O(n^2) way, which must
find the same pairs); planted copies, those whose two answers were both long enough to compare,
those found, false flags (pairs flagged that were not planted), answers skipped, the machine.

    python benchmarks/similarity.py [--students 300] [--copies 15] [--common 0.15] [--seed 0]
"""

from __future__ import annotations

import argparse
import ast
import copy
import itertools
import json
import os
import platform
import random
import time
from pathlib import Path

from mitdeeplearning.instructor.names import bound_in
from mitdeeplearning.instructor.similarity import (
    Settings,
    class_answers,
    fingerprints,
    pairs_above_threshold,
    similar_answers,
    statement_tokens,
)
from mitdeeplearning.instructor.submission import read_notebook, read_releases

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = [
    *(f"np.{name}" for name in (
        "sum", "mean", "cumsum", "sort", "argsort", "unique", "abs", "maximum", "minimum", "where",
        "clip", "exp", "log", "sqrt", "diff", "flatnonzero", "asarray", "stack", "concatenate",
        "argmax", "count_nonzero", "round", "zeros_like", "ones_like", "median", "einsum", "outer",
    )),
    "len", "sorted", "tf.reduce_mean", "tf.nn.softmax", "tf.cast",
]  # fmt: skip
METHODS = ["sum", "mean", "max", "min", "ravel", "astype", "reshape", "copy", "argmax", "cumsum"]
KEYWORDS = ["axis", "keepdims", "dtype", "kind", "out"]
OPERATORS = ["+", "-", "*", "/", ">=", "<", "==", "&", "**", "//"]


# ## Independent answers: random programs ----------------------------------------------------------


def _expression(rng: random.Random, names: list[str], depth: int) -> str:
    if depth == 0 or rng.random() < 0.2:
        return rng.choice(names) if rng.random() < 0.7 else repr(rng.choice([0, 1, 2, 0.5, -1]))
    kind = rng.randrange(5)
    inner = _expression(rng, names, depth - 1)
    if kind == 0:
        return f"({inner} {rng.choice(OPERATORS)} {_expression(rng, names, depth - 1)})"
    if kind == 1:
        extra = f", {rng.choice(KEYWORDS)}={rng.choice([0, 1, -1])}" if rng.random() < 0.4 else ""
        return f"{rng.choice(FUNCTIONS)}({inner}{extra})"
    if kind == 2:
        return f"({inner}).{rng.choice(METHODS)}()"
    if kind == 3:
        return f"({inner})[{rng.choice([':', '::-1', '1:', ':, 0', '..., None', 'i'])}]"
    return f"[{inner} for i in range({_expression(rng, names, depth - 1)})]"


def independent_answer(rng: random.Random, header: str, params: list[str]) -> str:
    """A random answer to the exercise whose ``def`` line is `header`."""
    names, lines = list(params), [header]
    for index in range(rng.randint(4, 9)):
        name = f"v{index}"
        if rng.random() < 0.2:
            lines += [f"    {name} = []", f"    for i in range({rng.choice(names)}.shape[0]):",
                      f"        {name}.append({_expression(rng, names + ['i'], 2)})"]  # fmt: skip
        elif rng.random() < 0.15:
            lines += [f"    if {_expression(rng, names, 2)}:",
                      f"        {name} = {_expression(rng, names, 2)}",
                      f"    else:\n        {name} = {_expression(rng, names, 1)}"]  # fmt: skip
        else:
            lines.append(f"    {name} = {_expression(rng, names, 3)}")
        names.append(name)
    lines.append(f"    return {_expression(rng, names[-3:], 2)}")
    return "\n".join(lines) + "\n"


# ## Copies: renamed, reordered, reformatted -------------------------------------------------------


class _Rename(ast.NodeTransformer):
    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = mapping

    def visit_Name(self, node: ast.Name) -> ast.Name:
        node.id = self.mapping.get(node.id, node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.arg = self.mapping.get(node.arg, node.arg)
        return node


def _reorder(body: list[ast.stmt], rng: random.Random) -> None:
    """Swap neighbouring statements that neither read nor write what the other writes."""
    for _ in range(len(body) * 2):
        i = rng.randrange(max(1, len(body) - 1))
        if i + 1 >= len(body) or isinstance(body[i + 1], ast.Return):
            continue
        a, b = body[i], body[i + 1]
        used_a = {n.id for n in ast.walk(a) if isinstance(n, ast.Name)}
        used_b = {n.id for n in ast.walk(b) if isinstance(n, ast.Name)}
        if not (bound_in(a) & used_b or bound_in(b) & used_a):
            body[i], body[i + 1] = b, a


def disguised_copy(source: str, rng: random.Random) -> str:
    """`source` renamed (every bound name but the function's), reordered, reformatted, with a
    comment and an unused line added."""
    tree = ast.parse(source)
    function = tree.body[0]
    names = sorted(bound_in(tree) - {function.name})
    tree = _Rename({name: f"my_{name}_{rng.randrange(100)}" for name in names}).visit(tree)
    _reorder(function.body, rng)
    function.body.insert(rng.randrange(len(function.body)), ast.parse("unused = None").body[0])
    lines = ast.unparse(tree).splitlines()
    at = rng.randrange(1, len(lines))
    lines.insert(at, " " * (len(lines[at]) - len(lines[at].lstrip())) + "# my own work")
    return "\n".join(lines) + "\n"


# ## The class ------------------------------------------------------------------------------------


def exercises(source: dict, release: dict) -> dict[str, tuple[str, list[str], str]]:
    """Grade id → (``def`` line, argument names, the lab's solution) for Lab 2's code answers."""
    found = {}
    for cell in source["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        text = "".join(cell["source"])
        if not meta.get("solution") or cell["cell_type"] != "code" or "def " not in text:
            continue
        solution = "\n".join(line for line in text.splitlines() if "### " not in line)
        tree = ast.parse(solution)
        function = next(n for n in tree.body if isinstance(n, ast.FunctionDef))
        header = ast.unparse(function).splitlines()[0]
        found[meta["grade_id"]] = (header, [a.arg for a in function.args.args], solution)
    released = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in release["cells"]}
    return {grade_id: value for grade_id, value in found.items() if grade_id in released}


def make_class(release: dict, tasks: dict, args) -> tuple[dict, set]:
    """Student → {notebook name: JSON text}, and the planted pairs ``(exercise, (a, b))``."""
    rng = random.Random(args.seed)
    students = [f"student{i:03d}" for i in range(args.students)]
    answers: dict[str, dict[str, str]] = {sid: {} for sid in students}
    planted = set()
    for grade_id, (header, params, solution) in tasks.items():
        order = rng.sample(students, len(students))
        common = order[: int(args.common * len(students))]
        pairs = [order[len(common) + 2 * i : len(common) + 2 * i + 2] for i in range(args.copies)]
        for sid in students:
            answers[sid][grade_id] = independent_answer(rng, header, params)
        for sid in common:
            answers[sid][grade_id] = solution
        for first, second in pairs:
            answers[second][grade_id] = disguised_copy(answers[first][grade_id], rng)
            planted.add((grade_id, tuple(sorted((first, second)))))
    prepared = {}
    for sid in students:
        notebook = copy.deepcopy(release)
        for cell in notebook["cells"]:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if grade_id in answers[sid]:
                cell["source"] = answers[sid][grade_id]
        prepared[sid] = {args.name: json.dumps(notebook)}
    return prepared, planted


def all_pairs(prints: dict, settings: Settings) -> tuple[set, float]:
    """The reference: the same fingerprints, every pair compared by intersecting sets.
    Returns the pairs flagged and the seconds the comparison took."""
    tic = time.perf_counter()
    flagged = set()
    for exercise, answers in prints.items():
        seen: dict[int, int] = {}
        for found in answers.values():
            for h in found:
                seen[h] = seen.get(h, 0) + 1
        limit = max(settings.common_floor, settings.common_share * len(answers))
        kept = {s: {h for h in f if seen[h] <= limit} for s, f in answers.items()}
        kept = {s: f for s, f in kept.items() if len(f) >= settings.min_fingerprints}
        for a, b in itertools.combinations(sorted(kept), 2):
            share = len(kept[a] & kept[b]) / min(len(kept[a]), len(kept[b]))
            shared = len(kept[a] & kept[b])
            if share >= settings.threshold and shared >= settings.min_fingerprints:
                flagged.add((exercise, (a, b)))
    return flagged, time.perf_counter() - tic


def fingerprint_class(prepared: dict, releases: dict, settings: Settings) -> tuple[dict, float]:
    """Exercise → student → fingerprints (the release's removed), and the seconds it took."""
    tic = time.perf_counter()
    by_exercise, base = class_answers(prepared, releases)
    prints = {}
    for exercise, answers in by_exercise.items():
        given = fingerprints(statement_tokens(base[exercise]), settings.k, 1, 1)
        prints[exercise] = {
            s: fingerprints(statement_tokens(a), settings.k, settings.window) - given
            for s, a in answers.items()
        }
    return prints, time.perf_counter() - tic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--copies", type=int, default=15, help="planted pairs per exercise")
    parser.add_argument("--common", type=float, default=0.15, help="share writing the solution")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    args.name = "Pneumothorax_CAM.ipynb"
    releases = read_releases(ROOT / "labs" / "release", "lab2")
    release = releases[("lab2", args.name)]
    tasks = exercises(read_notebook(ROOT / "labs" / "source" / "lab2" / args.name), release)
    prepared, planted = make_class(release, tasks, args)
    seconds = []
    for _ in range(args.repeats):
        tic = time.perf_counter()
        found = similar_answers(prepared, releases)
        seconds.append(time.perf_counter() - tic)
    settings = found.settings
    prints, fingerprint_seconds = fingerprint_class(prepared, releases, settings)
    reference, pairwise_seconds = all_pairs(prints, settings)
    tic = time.perf_counter()
    for exercise, answers in prints.items():
        pairs_above_threshold(exercise, answers, settings)
    index_seconds = time.perf_counter() - tic
    flagged = {(p.exercise, p.students) for p in found.pairs}
    compared = {(e, pair) for e, pair in planted if not set(pair) & set(found.short[e])}
    median = sorted(seconds)[len(seconds) // 2]
    print(json.dumps({
        "benchmark": "similarity", "students": args.students, "exercises": len(tasks),
        "answers": args.students * len(tasks), "seconds_median": round(median, 2),
        "seconds_runs": [round(s, 2) for s in seconds],
        "fingerprint_seconds": round(fingerprint_seconds, 2),
        "index_compare_seconds": round(index_seconds, 2),
        "all_pairs_compare_seconds": round(pairwise_seconds, 2),
        "same_pairs_as_all_pairs": reference == flagged,
        "planted": len(planted), "planted_both_compared": len(compared),
        "planted_found": len(planted & flagged), "false_flags": len(flagged - planted),
        "skipped_short_or_common": sum(len(v) for v in found.short.values()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
    }))  # fmt: skip


if __name__ == "__main__":
    main()
