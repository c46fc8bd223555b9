"""Similar answers across a class: which pairs of students wrote the same code for an exercise,
whatever they called their variables and however they laid it out.

A flag for the instructor to read, never a penalty. Each answer cell is reduced to what a copy
keeps (the method of MOSS: Schleimer, Wilkerson and Aiken, "Winnowing: Local Algorithms for
Document Fingerprinting", SIGMOD 2003):

1. **Normalise.** The cell is parsed (`names.parse_cell`, so IPython magics parse) and its
   syntax tree walked in order, statement by statement: every node gives its kind
   (``Assign``, ``Call``, ``For``...); a name the answer binds becomes ``Name`` (renaming
   changes nothing), a constant becomes its type (``#str``, ``#int``), docstrings go and
   comments never come; attribute names (``.cumsum``), keyword names (``axis=``) and builtins
   (``len``) stay, since a copy keeps them and they tell independent answers apart. A cell
   that does not parse (or nests deeper than Python's parser goes, or is longer than
   `LONGEST_PARSED`) falls back to its words, line by line, normalised the same way.
2. **Fingerprint.** Within each statement every run of `k` consecutive tokens is hashed, and
   winnowing keeps the smallest hash of each window of `window` hashes: any run of
   ``k + window - 1`` tokens two answers share leaves a fingerprint in both. Fingerprints form
   a set and never span two statements, so putting the statements in another order changes
   none of them (runs across statement boundaries, as MOSS hashes them, lost a third of a
   reordered copy's fingerprints here).
3. **Drop what means nothing.** Fingerprints of the release's own cell (the ``def`` line and
   what the exercise gives) and those found in more than `common_share` of the class's answers
   (the one-line ``einsum`` everyone writes) are removed; an answer left with fewer than
   `min_fingerprints` is skipped, as too short or too common to tell anything.
4. **Compare.** An inverted index from fingerprint to students gives, for each exercise, the
   pairs sharing any fingerprint and how many; a pair is listed when the shared fingerprints
   make at least `threshold` of the smaller answer's (so padding a copy with extra lines does
   not hide it) and number at least `min_fingerprints`.

Only code answer cells are compared (written answers are read by a person anyway).
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import itertools
import json
import keyword
import re
import zlib
from collections import Counter, defaultdict
from collections.abc import Mapping

from .names import parse_cell
from .submission import STUB

#: Names a student rarely rebinds and a copy keeps: the builtins (``len``, ``range``, ``zip``).
_BUILTINS = frozenset(dir(builtins))
_CONTEXTS = ast.expr_context
#: Answers longer than this (characters) are compared on their words, unparsed: the time stays
#: linear in their length whatever they hold.
LONGEST_PARSED = 100_000
#: A token of code that does not parse: a string literal, a word or number, or one character.
_WORD = re.compile(r"\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'|\w+|[^\w\s]")


@dataclasses.dataclass(frozen=True)
class Settings:
    """How answers are compared (see the module's notes).

    Attributes
    ----------
    threshold : float
        A pair is listed when the fingerprints it shares make at least this share of the
        smaller answer's.
    k : int
        Tokens per hashed run.
    window : int
        Hashes per winnowing window (1 keeps every hash).
    min_fingerprints : int
        Answers with fewer fingerprints (after dropping the release's and the common ones)
        are skipped, and a pair must share at least this many (a short answer that is mostly
        a common idiom is not "70 % the same" as a long one that uses it too).
    common_share : float
        A fingerprint found in more than this share of an exercise's answers (and in more than
        `common_floor` of them) is common to the class and dropped.
    common_floor : int
        However small the class, a fingerprint in this many answers or fewer is never common.
    """

    threshold: float = 0.7
    k: int = 8
    window: int = 4
    min_fingerprints: int = 6
    common_share: float = 0.1
    common_floor: int = 3

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise ValueError(f"threshold={self.threshold!r}: expected a share in (0, 1].")
        if self.k < 1 or self.window < 1 or self.min_fingerprints < 1:
            raise ValueError(
                f"k={self.k!r}, window={self.window!r}, min_fingerprints="
                f"{self.min_fingerprints!r}: each must be a positive whole number."
            )
        if not 0 < self.common_share <= 1 or self.common_floor < 2:
            raise ValueError(
                f"common_share={self.common_share!r}, common_floor={self.common_floor!r}: "
                "expected a share in (0, 1] and at least 2 (a copied pair is never common)."
            )


@dataclasses.dataclass(frozen=True)
class Pair:
    """Two students whose answers to `exercise` are alike."""

    exercise: str
    students: tuple[str, str]
    similarity: float  # shared fingerprints / the smaller answer's fingerprints
    shared: int
    sizes: tuple[int, int]  # each answer's fingerprints, in the order of `students`


@dataclasses.dataclass
class Similarity:
    """What `find_similar` found: the pairs above the threshold and, per exercise, what was
    compared and what was skipped."""

    settings: Settings
    pairs: list[Pair]
    compared: dict[str, int]  # exercise → answers compared
    short: dict[str, list[str]]  # exercise → students whose answer was too short or common
    missing: dict[str, int]  # exercise → students with no answer (unanswered or absent)

    def as_json(self) -> dict:
        """A JSON-ready copy (for ``results.json``)."""
        return {
            "settings": dataclasses.asdict(self.settings),
            "pairs": [dataclasses.asdict(pair) for pair in self.pairs],
            "compared": self.compared,
            "skipped_short_or_common": self.short,
            "missing": self.missing,
        }

    def groups(self) -> list[tuple[str, list[str], list[Pair]]]:
        """``(exercise, students, pairs)`` for each group of students linked by listed pairs
        (an answer passed round several students is one group, not a pair per two of them),
        the most similar group first."""
        found = []
        for exercise in dict.fromkeys(p.exercise for p in self.pairs):
            pairs = [p for p in self.pairs if p.exercise == exercise]
            group_of: dict[str, set[str]] = {}
            for pair in pairs:
                merged = set(pair.students).union(*(group_of.get(s, ()) for s in pair.students))
                for student in merged:
                    group_of[student] = merged
            for group in {id(g): g for g in group_of.values()}.values():
                inside = [p for p in pairs if p.students[0] in group]
                found.append((exercise, sorted(group), inside))
        found.sort(key=lambda g: (-max(p.similarity for p in g[2]), g[0], g[1]))
        return found

    def markdown(self) -> str:
        """The section of ``summary.md`` that lists the groups of students whose answers are
        alike and says what was compared and what was skipped."""
        s = self.settings
        lines = [
            "## Similar answers",
            "",
            "A flag to read, not a penalty: pairs of students whose answers to an exercise "
            f"share at least {s.threshold:.0%} of the smaller answer's fingerprints (and at least "
            f"{s.min_fingerprints}), compared "
            "on syntax trees with names and constants abstracted (renaming, reformatting, "
            f"comments and reordered statements do not hide a copy). Runs of {s.k} tokens, "
            f"winnowed over windows of {s.window}; the release's own code, forms found in more "
            f"than {s.common_share:.0%} of the answers (and more than {s.common_floor}), and "
            f"answers left with fewer than {s.min_fingerprints} fingerprints are not compared.",
            "",
        ]
        if self.pairs:
            lines += ["| exercise | students | similarity | pairs above the threshold |",
                      "| --- | --- | --- | --- |"]  # fmt: skip
            for exercise, students, pairs in self.groups():
                low, high = min(p.similarity for p in pairs), max(p.similarity for p in pairs)
                spread = f"{high:.0%}" if low == high else f"{low:.0%} to {high:.0%}"
                possible = len(students) * (len(students) - 1) // 2
                names = ", ".join(_cell_text(student) for student in students)
                lines.append(f"| {_cell_text(exercise)} | {names} | {spread} | "
                             f"{len(pairs)} of {possible} |")  # fmt: skip
        else:
            lines.append("No pair of answers above the threshold.")
        lines += ["", "| exercise | compared | too short or common | no answer |",
                  "| --- | --- | --- | --- |"]  # fmt: skip
        for exercise, count in self.compared.items():
            short, missing = len(self.short.get(exercise, [])), self.missing.get(exercise, 0)
            lines.append(f"| {_cell_text(exercise)} | {count} | {short} | {missing} |")
        return "\n".join(lines) + "\n"


def _cell_text(text: str) -> str:
    """`text` safe in a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


# ## Normalising an answer ----------------------------------------------------------------------


def statement_tokens(source: str) -> list[list[str]]:
    """The tokens of each statement of a code cell that a renamed, reformatted copy keeps (see
    the module's notes); a compound statement (``for``, ``if``, ``def``) holds its header, and
    the statements in its body come after it, each on its own.

    Examples
    --------
    >>> statement_tokens("total = len(xs) + 1  # one more") == statement_tokens(
    ...     "n=len( items )+7")
    True
    >>> statement_tokens("for v in xs:\\n    y = np.cumsum(v)")
    [['For', 'Name', 'Name'], ['Assign', 'Name', 'Call', 'Attribute', 'Name', '.cumsum', 'Name']]
    """
    if len(source) > LONGEST_PARSED:
        return _fallback_tokens(source)
    try:
        tree = _parse(source)
        statements: list[list[str]] = []
        bound: set[str] = set()
        _walk(tree, [], statements, bound)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return _fallback_tokens(source)  # not Python, a null byte, nesting a parser refuses
    shadowed = bound & _BUILTINS  # ``len = 3``: then ``len`` is the student's own name
    if shadowed:
        statements = [["Name" if t in shadowed else t for t in tokens] for tokens in statements]
    return statements


def _parse(source: str) -> ast.Module:
    try:
        return ast.parse(source)
    except SyntaxError:
        return parse_cell(source)  # IPython's magics and shell lines


def normalized_tokens(source: str) -> list[str]:
    """`statement_tokens`, one statement after the other, as one list."""
    return [token for statement in statement_tokens(source) for token in statement]


def _walk(node: ast.AST, tokens: list[str], statements: list, bound: set[str]) -> None:
    """Append the tokens of `node`'s children to `tokens` (a statement's to a new list in
    `statements`), adding the names the code binds to `bound`."""
    body = getattr(node, "body", None)
    docstring = body[0] if isinstance(body, list) and body and _is_docstring(body[0]) else None
    for child in ast.iter_child_nodes(node):
        if isinstance(child, _CONTEXTS) or child is docstring:
            continue
        if isinstance(child, ast.stmt):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                bound.add(child.name)
            statement = [type(child).__name__]
            statements.append(statement)
            _walk(child, statement, statements, bound)
            continue
        if isinstance(child, ast.Name):
            tokens.append(child.id if child.id in _BUILTINS else "Name")
            if not isinstance(child.ctx, ast.Load):
                bound.add(child.id)
            continue
        if isinstance(child, ast.arg):
            bound.add(child.arg)
        tokens.append(f"#{type(child.value).__name__}" if isinstance(child, ast.Constant)
                      else type(child).__name__)  # fmt: skip
        if isinstance(child, ast.keyword) and child.arg:
            tokens.append(f"{child.arg}=")
        _walk(child, tokens, statements, bound)
        if isinstance(child, ast.Attribute):
            tokens.append(f".{child.attr}")


def _is_docstring(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _fallback_tokens(source: str) -> list[list[str]]:
    """Tokens of code that does not parse, a list per line: names become ``Name`` (keywords
    and builtins stay), literals their kind, operators themselves."""
    statements: list[list[str]] = []
    for line in source.splitlines():
        tokens = []
        for word in _WORD.findall(line):
            if word == "#":
                break  # a comment
            if word[0].isdigit():
                tokens.append("#number")
            elif word[0].isalpha() or word[0] == "_":
                known = keyword.iskeyword(word) or word in _BUILTINS
                tokens.append(word if known else "Name")
            else:
                tokens.append("#str" if word[0] in "\"'" and len(word) > 1 else word)
        if tokens:
            statements.append(tokens)
    return statements


def fingerprints(
    statements: list[list[str]], k: int = 8, window: int = 4, shortest: int = 5
) -> set[int]:
    """The winnowed hashes of the `k`-token runs within each statement.

    A statement shorter than `k` (but of at least `shortest` tokens) counts as one run; shorter
    ones (``i += 1``, ``return x``) say nothing. Hashes are CRC-32s, the same on every machine
    and run; winnowing keeps the smallest hash of every `window` consecutive ones of a
    statement (one hash for a statement shorter than a window). Working statement by statement
    makes the set blind to the order of the statements.

    Examples
    --------
    >>> statements = statement_tokens("a = np.sort(x)[::-1]\\nb = a.cumsum() / len(a)")
    >>> [len(s) for s in statements]
    [12, 11]
    >>> len(fingerprints(statements, k=5, window=1)) == (12 - 5 + 1) + (11 - 5 + 1)
    True
    >>> fingerprints(statement_tokens("i += 1\\nreturn x"), k=5)
    set()
    """
    kept: set[int] = set()
    for tokens in statements:
        if len(tokens) < shortest:
            continue
        runs = range(max(1, len(tokens) - k + 1))
        hashes = [zlib.crc32("\x1f".join(tokens[i : i + k]).encode()) for i in runs]
        if window <= 1:
            kept.update(hashes)
        else:
            last = max(1, len(hashes) - window + 1)
            kept.update(min(hashes[i : i + window]) for i in range(last))
    return kept


# ## Answers of a class ---------------------------------------------------------------------------


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        return "".join(part for part in source if isinstance(part, str))
    return source if isinstance(source, str) else ""


def _grade_id(cell: object) -> str | None:
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    meta = meta.get("nbgrader") if isinstance(meta, dict) else None
    if not isinstance(meta, dict) or not meta.get("solution"):
        return None
    grade_id = meta.get("grade_id")
    return grade_id if isinstance(grade_id, str) else None


def answer_cells(notebook: Mapping | str) -> dict[str, str]:
    """Grade id → source of each code answer cell of a notebook (a dict or its JSON text);
    cells still holding the release's stub are left out. A notebook that cannot be read gives
    nothing."""
    if isinstance(notebook, str):
        try:
            notebook = json.loads(notebook)
        except (ValueError, RecursionError):
            return {}
    cells = notebook.get("cells") if isinstance(notebook, Mapping) else None
    found: dict[str, str] = {}
    for cell in cells if isinstance(cells, list) else []:
        grade_id = _grade_id(cell)
        if grade_id and cell.get("cell_type") == "code" and grade_id not in found:
            source = _source(cell)
            if STUB not in source:
                found[grade_id] = source
    return found


def class_answers(
    submissions: Mapping[str, Mapping[str, Mapping | str]], releases: Mapping
) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """``(exercise → student → answer source, exercise → the release's cell)`` from what
    `mitdeeplearning.instructor.submission.prepare_submission` gives for each student
    (notebook file name → repaired notebook) and the releases (``(lab, name) → notebook``).

    An exercise is a code answer cell of a release, named ``<notebook stem>/<grade id>`` when
    the lab has more than one notebook.
    """
    several = len(releases) > 1
    exercises: dict[str, dict[str, str]] = {}
    base: dict[str, str] = {}
    for (_, name), release in sorted(releases.items()):
        stem = name.rsplit(".", 1)[0]
        for cell in release.get("cells", []):
            grade_id = _grade_id(cell)
            if grade_id and cell.get("cell_type") == "code":
                key = f"{stem}/{grade_id}" if several else grade_id
                base[key] = _source(cell)
                exercises[key] = {}
        for student, notebooks in submissions.items():
            if name not in notebooks:
                continue
            for grade_id, source in answer_cells(notebooks[name]).items():
                key = f"{stem}/{grade_id}" if several else grade_id
                if key in exercises:
                    exercises[key][student] = source
    return exercises, base


def find_similar(
    exercises: Mapping[str, Mapping[str, str]],
    base: Mapping[str, str] | None = None,
    *,
    settings: Settings | None = None,
    students: int | None = None,
) -> Similarity:
    """Compare every pair of students' answers to each exercise.

    Parameters
    ----------
    exercises : mapping
        Exercise → student → the source of that student's answer cell.
    base : mapping, optional
        Exercise → the release's cell: its fingerprints are never evidence.
    settings : Settings
        Threshold and fingerprinting (see `Settings`).
    students : int, optional
        Students in the class (for the count of those with no answer); by default, those
        who answered any exercise.

    Returns
    -------
    Similarity
        The pairs at or above the threshold, most similar first, and what was skipped.
    """
    settings = settings or Settings()
    base = base or {}
    everyone = students or len({s for answers in exercises.values() for s in answers})
    result = Similarity(settings, [], {}, {}, {})
    for exercise, answers in exercises.items():
        given = fingerprints(statement_tokens(base.get(exercise, "")), settings.k, 1, 1)
        by_source: dict[str, set[int]] = {}  # the same answer handed in many times
        for source in set(answers.values()):
            found = fingerprints(statement_tokens(source), settings.k, settings.window)
            by_source[source] = found - given
        prints = {student: by_source[source] for student, source in answers.items()}
        pairs, short = pairs_above_threshold(exercise, prints, settings)
        result.pairs += pairs
        result.compared[exercise] = len(prints) - len(short)
        result.short[exercise] = short
        result.missing[exercise] = max(0, everyone - len(answers))
    result.pairs.sort(key=lambda p: (-p.similarity, p.exercise, p.students))
    return result


def pairs_above_threshold(
    exercise: str, prints: dict[str, set[int]], settings: Settings
) -> tuple[list[Pair], list[str]]:
    """The pairs of students whose answers to `exercise` share at least the threshold of the
    smaller answer's fingerprints (and at least `Settings.min_fingerprints`), and the students
    skipped (too short or too common).

    `prints` maps each student to the fingerprints of their answer, the release's removed.
    Fingerprints common to the class are dropped first; an inverted index (fingerprint →
    students) then counts what each pair shares, so only pairs that share something are ever
    looked at.
    """
    seen = Counter(h for found in prints.values() for h in found)
    common = max(settings.common_floor, settings.common_share * len(prints))
    kept = {student: {h for h in found if seen[h] <= common} for student, found in prints.items()}
    short = sorted(s for s, found in kept.items() if len(found) < settings.min_fingerprints)
    index: dict[int, list[str]] = defaultdict(list)
    for student in sorted(kept):
        if student not in short:
            for h in kept[student]:
                index[h].append(student)
    shared: Counter[tuple[str, str]] = Counter()
    for owners in index.values():
        shared.update(itertools.combinations(owners, 2))
    pairs = []
    for (a, b), count in shared.items():
        similarity = count / min(len(kept[a]), len(kept[b]))
        if similarity >= settings.threshold and count >= settings.min_fingerprints:
            pairs.append(Pair(exercise, (a, b), round(similarity, 3), count,
                              (len(kept[a]), len(kept[b]))))  # fmt: skip
    return pairs, short


def similar_answers(
    submissions: Mapping[str, Mapping[str, Mapping | str]],
    releases: Mapping,
    settings: Settings | None = None,
) -> Similarity:
    """`find_similar` over a lab's submissions as `mitdl autograde` prepares them: student →
    notebook file name → repaired notebook (dict or JSON text), and the lab's releases
    (``(lab, name) → notebook``).

    Examples
    --------
    >>> from mitdeeplearning.instructor.similarity import similar_answers
    >>> cell = lambda src: {"cell_type": "code", "source": src, "metadata": {"nbgrader": {
    ...     "grade_id": "mean", "solution": True}}}
    >>> release = {"cells": [cell("def variance(xs):\\n    raise NotImplementedError()")]}
    >>> answer = ("def variance(xs):\\n    n = len(xs)\\n    mean = sum(xs) / n\\n"
    ...           "    return sum((x - mean) ** 2 for x in xs) / (n - 1)")
    >>> copy = ("def variance(values):\\n    count = len(values)\\n"
    ...         "    avg = sum(values) / count  # the mean\\n"
    ...         "    return sum((v - avg)**2 for v in values) / (count - 1)")
    >>> found = similar_answers(
    ...     {"ann": {"L.ipynb": {"cells": [cell(answer)]}},
    ...      "bob": {"L.ipynb": {"cells": [cell(copy)]}}},
    ...     {("lab", "L.ipynb"): release}, Settings(min_fingerprints=2))
    >>> [(p.students, p.similarity) for p in found.pairs]
    [(('ann', 'bob'), 1.0)]
    """
    exercises, base = class_answers(submissions, releases)
    return find_similar(exercises, base, settings=settings, students=len(submissions))
