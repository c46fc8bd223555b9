"""Hostile submissions: the instructor's scan flags what an answer reaches for (fast, on
strings and on the files in ``hostile/``), and a real autograde run of all of those files shows
what each earns (slow)."""

from __future__ import annotations

import copy
import csv
import dataclasses
import html
import json
import re
import shutil
from pathlib import Path

import pytest

from mitdeeplearning import grading
from mitdeeplearning.instructor import course
from mitdeeplearning.instructor.autograde import MANUAL_GRADES, autograde
from mitdeeplearning.instructor.sandbox import sandbox_problem
from mitdeeplearning.instructor.scan import scan_source
from mitdeeplearning.instructor.submission import read_notebook, scan_answers

from .demo import EXERCISE_TESTS, WRITTEN_POINTS

HOSTILE = Path(__file__).parent / "hostile"


@dataclasses.dataclass(frozen=True)
class _Refusal:  # the interface of mitdeeplearning.grading.Refusal
    package: tuple[str, ...] = ()
    library: tuple[str, ...] = ()


STAND_IN = {
    "check_pointing_game": _Refusal(package=("xray.pointing_game",)),
    "check_roc": _Refusal(library=("sklearn.metrics.roc_curve", "sklearn.metrics.roc_auc_score")),
}
REFUSALS = getattr(grading, "REFUSALS", None) or STAND_IN


@dataclasses.dataclass
class Case:
    name: str
    cell: str
    flags: list[str]
    score: str
    feedback: list[str]
    source: str


def _cases() -> list[Case]:
    cases = []
    for path in sorted(HOSTILE.glob("*.ipy")):
        text = path.read_text(encoding="utf-8")
        header = dict.fromkeys(["cell", "flag", "score", "feedback"])
        header = {key: re.findall(rf"^# {key}: (.*)$", text, re.M) for key in header}
        cases.append(Case(path.stem, header["cell"][0], header["flag"], header["score"][0],
                          header["feedback"], text))  # fmt: skip
    return cases


CASES = _cases()


def test_the_hostile_files_cover_delegation_bypasses_and_honest_answers():
    assert len(CASES) >= 15
    assert {c.score for c in CASES} == {"0", "full", "any"}
    assert {c.cell for c in CASES} == set(EXERCISE_TESTS)
    assert all(c.flags or c.score == "full" for c in CASES)


def _release(root) -> dict:
    return read_notebook(root / "release/exercises/Exercises.ipynb")


def _answered(release: dict, answers: dict[str, str]) -> dict:
    notebook = copy.deepcopy(release)
    for cell in notebook["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell["source"] = answers[grade_id]
    return notebook


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_hostile_file_is_flagged_as_its_header_says(demo_course, case):
    release = _release(demo_course)
    flags = scan_answers(_answered(release, {case.cell: case.source}), release, refusals=REFUSALS)
    for reason in case.flags:
        assert any(flag.startswith(f"{case.cell} {reason}: ") for flag in flags), flags
    if not case.flags:
        assert flags == []


# ## The scan on strings ------------------------------------------------------------------------

FLAGGED = [
    ("grading = None", "rebinds grading"),
    ("import numpy as grading", "rebinds grading"),
    ("from mitdeeplearning.grading import check_roc as checks", "rebinds checks"),
    ("def check_roc(answer):\n    pass", "rebinds check_roc"),
    ("class GradingError(Exception):\n    pass", "rebinds GradingError"),
    ("for fresh in range(3):\n    pass", "rebinds fresh"),
    ("with open('notes.txt') as checks:\n    pass", "rebinds checks"),
    ("def f():\n    global mitdeeplearning\n    mitdeeplearning = None", "rebinds mitdeeplearning"),
    ("del grading", "rebinds grading"),
    ("import sys\nframe = sys._getframe(1)", "reads the caller's frame"),
    ("from sys import _getframe as g\nframe = g(1)", "reads the caller's frame"),
    ("import inspect as i\ni.stack()", "reads the caller's frame"),
    ("def f(x):\n    return x.gi_frame", "reads the caller's frame"),
    (
        "try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    e.__traceback__",
        "reads the caller's frame",
    ),
    ("frame.f_back.f_locals", "reads the caller's frame"),
    ("getattr(frame, 'f_globals')", "reads the caller's frame"),
    ("s = sys\ns.modules['numpy'].testing = None", "edits sys.modules"),
    ("mod = __import__('numpy')", "imports by name"),
    ("import importlib as il\nil.reload(np)", "imports by name"),
    ("getattr(np, 'as' + 'array')", "looks up a name it computes"),
    ("import numpy as np\ngetattr(np, 'asarray')", "looks up a module's name"),
    ("import math\nsetattr(math, 'isclose', f)", "patches a library"),
    ("globals()['grading'] = None", "reads the namespace"),
    ("import numpy as np\nvars(np)", "reads the namespace"),
    ("exec('x = 1')", "runs code from a string"),
    ("eval('1 + 1')", "runs code from a string"),
    ("compile('x = 1', '<answer>', 'exec')", "runs code from a string"),
    ("import zlib", "decodes hidden code"),
    ("import marshal as m", "decodes hidden code"),
    ("from pickle import loads", "decodes hidden code"),
    ("code = bytes.fromhex('7072696e74')", "decodes hidden code"),
    ("import codecs\ncodecs.decode('cevag', 'rot13')", "decodes hidden code"),
    ("().__class__.__base__.__subclasses__()", "reaches into __subclasses__"),
    ("f.__globals__['grading']", "reaches into __globals__"),
    ("f.__code__ = g.__code__", "reaches into __code__"),
    ("grading.__dict__", "reaches into __dict__"),
    ("__builtins__.abs = len", "touches builtins"),
    ("grading.check_roc.__wrapped__", "reaches into __wrapped__"),
    ("f.__closure__", "reaches into __closure__"),
    ("from mitdeeplearning import grading\npath = grading.__file__", "reaches into __file__"),
    ("grading.__loader__", "reaches into __loader__"),
    ("grading.__spec__", "reaches into __spec__"),
    ("import builtins\nbuiltins.abs = len", "touches builtins"),
    ("import subprocess as sp\nsp.run(['ls'])", "starts a process"),
    ("import os\nos.system('ls')", "starts a process"),
    ("from os import popen\npopen('ls')", "starts a process"),
    ("import os\nos.execv('/bin/ls', ['ls'])", "starts a process"),
    ("import os\nos.spawnl(os.P_WAIT, 'ls')", "starts a process"),
    ("import pty", "starts a process"),
    ("from multiprocessing import Process", "starts a process"),
    ("import socket", "opens a network connection"),
    ("from urllib.request import urlopen", "opens a network connection"),
    ("import http.client", "opens a network connection"),
    ("import requests", "opens a network connection"),
    ("text = open('/proc/self/environ').read()", "uses a path outside the working folder"),
    ("text = open('/etc/passwd').read()", "uses a path outside the working folder"),
    ("open('../../gradebook.db', 'rb')", "reaches outside the working folder"),
    ("open('../../gradebook.db', 'rb')", "reaches for the grading files"),
    ("In[-1]", "reads the notebook's history"),
    ("Out[3]", "reads the notebook's history"),
    ("_ih[-2]", "reads the notebook's history"),
    ("_oh", "reads the notebook's history"),
    ("print(_i, _ii, _iii)", "reads the notebook's history"),
    ("previous = _", "reads the notebook's history"),
    ("ip = get_ipython()", "uses the IPython kernel"),
    ("get_ipython().input_transformers_cleanup.append(f)", "registers kernel hooks"),
    ("get_ipython().ast_transformers.append(t)", "registers kernel hooks"),
    ("get_ipython().events.register('pre_run_cell', f)", "registers kernel hooks"),
    ("import numpy as np\nnp.asarray = lambda x: x", "patches a library"),
    ("import math\nmath.isclose = lambda *a, **k: True", "patches a library"),
    ("import mitdeeplearning.xray\nmitdeeplearning.xray.pointing_game = f", "patches a library"),
    ("from mitdeeplearning import grading\ngrading.lab2.check_roc = f", "patches a library"),
    ("from mitdeeplearning import grading\ngrading._anything", "reaches a private part"),
    ("import mitdeeplearning._lazy", "reaches a private part"),
    ("import os\nos._exit(0)", "exits the kernel"),
    ("import sys\nsys.exit(1)", "exits the kernel"),
    ("raise SystemExit", "exits the kernel"),
    ("open('answer.txt', 'w').write('x')", "writes files"),
    ("open('answer.txt', mode='a')", "writes files"),
    ("from pathlib import Path\nPath('x.py').write_text('')", "writes files"),
    ("import shutil\nshutil.copy('a', 'b')", "writes files"),
    ("import sqlite3", "reaches for the grading files"),
    ("from nbgrader.api import Gradebook", "reaches for the grading files"),
    ("import glob\nglob.glob('**/*.ipynb')", "explores files"),
    ("import os\nos.listdir('.')", "explores files"),
    ("!cat answers.txt", "runs a shell command"),
    ("files = !ls", "runs a shell command"),
    ("%%bash\nls", "runs a shell command"),
    ("%system ls", "runs a shell command"),
    ("%%writefile helper.py\nx = 1", "writes files"),
    ("%load_ext some_extension", "uses the %load_ext magic"),
    ("%time exec('x = 1')", "runs code from a string"),
    ("%%time\nimport inspect", "reads the caller's frame"),
    ("def add(a, b):\n    return a +", "could not be read"),
]


@pytest.mark.parametrize(("source", "reason"), FLAGGED)
def test_each_pattern_is_flagged(source, reason):
    assert any(r.startswith(reason) for _, r, _ in scan_source(source)), scan_source(source)


CLEAN = [
    "import numpy as np\nx = np.asarray([1, 2]).sum()",
    "import tensorflow as tf\ny = tf.reduce_mean(tf.constant([1.0]))",
    "import keras\nlayer = keras.layers.Dense(3, activation='relu')",
    "class Net(keras.Model):\n    def __init__(self):\n        super().__init__()\n"
    "        self.n = 1",
    "for _ in range(3):\n    pass",
    "a, _ = divmod(7, 2)",
    "%matplotlib inline\nimport matplotlib.pyplot as plt",
    "%timeit -n1 -r 2 sum(range(10))",
    "%%time\ntotal = sum(range(10))",
    "from mitdeeplearning import grading\n\nchecks = grading.fresh()\nchecks.check_roc(roc_curve)",
    "import os\nfast = os.environ.get('MITDL_FAST') == '1'",
    "getattr(layer, 'stateful', False)",
    "plt.rcParams['figure.dpi'] = 100",
    "path = 'data/images.h5'\nurl = 'https://example.org/a/b'",
    "from IPython.display import display\ndisplay(1)",
    "text = f'{a}/{b}'",
    "def compute(checks_done):\n    checks = checks_done + 1\n    return checks",
]


@pytest.mark.parametrize("source", CLEAN)
def test_ordinary_code_is_not_flagged(source):
    assert scan_source(source) == []


def test_delegation_is_found_through_every_alias():
    refused = {"sklearn.metrics.roc_curve": "sklearn.metrics.roc_curve",
               "mitdeeplearning.xray.pointing_game": "xray.pointing_game"}  # fmt: skip
    sources = [
        "from sklearn.metrics import roc_curve as rc",
        "import sklearn.metrics as skm\nskm.roc_curve",
        "import sklearn.metrics as skm\nf = skm.roc_curve",
        "import sklearn.metrics as skm\ng = getattr(skm, 'roc_curve')",
        "import sklearn\nsklearn.metrics._ranking.roc_curve",
        "from sklearn import metrics as m\nalias = m\nalias.roc_curve",
        "from sklearn.metrics import *",
        "import mitdeeplearning.xray.localisation as loc\nloc.pointing_game",
        "from mitdeeplearning import xray\nxray.pointing_game",
        "import mitdeeplearning\nmitdeeplearning.xray.localisation.pointing_game",
        "import sklearn.metrics as skm\ndef f(m=skm):\n    return m.roc_curve",
    ]
    for source in sources:
        assert any(
            r.startswith("delegates to") for _, r, _ in scan_source(source, refused=refused)
        ), source
    allowed = ["from sklearn.metrics import confusion_matrix, roc_auc_score as auc",
               "from mitdeeplearning import xray\nxray.plot_roc",
               "def roc_curve(labels, scores):\n    return labels, scores, scores"]  # fmt: skip
    for source in allowed:
        assert scan_source(source, refused=refused) == [], source


# ## The scan on notebooks ----------------------------------------------------------------------

LABS = course.DEFAULT_COURSE


@pytest.mark.parametrize("path", sorted((LABS / "source").glob("*/*.ipynb")), ids=lambda p: p.name)
def test_the_labs_solutions_scan_clean(path):
    release = read_notebook(LABS / "release" / path.parent.name / path.name)
    assert scan_answers(read_notebook(path), release) == []


def test_an_unreadable_answer_is_flagged_not_passed(demo_course):
    release = _release(demo_course)
    broken = _answered(release, {"roc": "def roc_curve(labels, scores)\n    return 1"})
    (flag,) = scan_answers(broken, release, refusals=REFUSALS)
    assert flag.startswith("roc could not be read") and "def roc_curve" in flag


def test_the_exercise_is_read_from_the_release_not_from_an_edited_test_cell(demo_course):
    release = _release(demo_course)
    notebook = _answered(release, {"roc": "from sklearn.metrics import roc_curve",
                                   "test_roc": "print('no check here')"})  # fmt: skip
    flags = scan_answers(notebook, release, refusals=REFUSALS)
    assert flags == ["roc delegates to sklearn.metrics.roc_curve: "
                     "from sklearn.metrics import roc_curve"]  # fmt: skip


def test_a_cell_of_the_students_own_is_flagged_but_the_release_lines_it_repeats_are_not(
    demo_course,
):
    lab = LABS / "release/lab2/Pneumothorax_CAM.ipynb"
    release = read_notebook(lab)
    notebook = copy.deepcopy(release)
    setup = next(c for c in notebook["cells"] if c["cell_type"] == "code")
    setup["source"] = "".join(setup["source"]) + "\nimport inspect\n"
    flags = scan_answers(notebook, release)
    assert flags == ["an unlabelled cell reads the caller's frame: import inspect"]


# ## One autograde run of them all ----------------------------------------------------------------


def _write(notebook: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook), encoding="utf-8")


def _text_of(page: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))


def _rows(path: Path) -> dict[str, dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {row[next(iter(row))]: row for row in csv.DictReader(handle)}


@pytest.mark.slow
def test_one_autograde_run_of_every_hostile_submission(demo_course, tmp_path, monkeypatch):
    # The kernels import a copy of the package: a submission that rewrites it rewrites the copy.
    installed = Path(grading.__file__).resolve().parent.parent
    package = tmp_path / "package"
    shutil.copytree(installed, package / "mitdeeplearning",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    monkeypatch.setenv("PYTHONPATH", str(package))
    lab2 = installed / "grading" / "lab2.py"
    before = lab2.read_bytes()

    release = _release(demo_course)
    subs = tmp_path / "subs"
    for case in CASES:
        _write(_answered(release, {case.cell: case.source}), subs / case.name / "Exercises.ipynb")
    solution = read_notebook(demo_course / "source/exercises/Exercises.ipynb")
    _write(solution, subs / "solution" / "Exercises.ipynb")
    out = tmp_path / "out"
    results = autograde("exercises", subs, demo_course, out=out, workers=2)["results"]

    assert lab2.read_bytes() == before
    copied = (package / "mitdeeplearning/grading/lab2.py").read_text(encoding="utf-8")
    if sandbox_problem() is None:  # in the sandbox the system is read-only: it could not
        assert not copied.endswith("# rewritten by a submission\n")
    else:  # without it the rewrite did run, on the copy
        assert copied.endswith("# rewritten by a submission\n")
    full = sum(points for _, points in EXERCISE_TESTS.values())
    assert results["solution"]["score"] == results["solution"]["max_score"] == full
    assert results["solution"]["flags"] == []
    earned = {}
    for case in CASES:
        result = results[case.name]
        test_id, points = EXERCISE_TESTS[case.cell]
        earned[case.name] = result["cells"][test_id][0]
        for reason in case.flags:
            assert any(f.startswith(f"{case.cell} {reason}: ") for f in result["flags"]), case.name
        if case.score == "0":
            assert earned[case.name] == 0, (case.name, result["cells"])
        elif case.score == "full":
            assert earned[case.name] == points and result["flags"] == [], (case.name, result)
        page = _text_of(out / "feedback" / case.name / "Exercises.html")
        for sentence in case.feedback:
            assert sentence in page, case.name
    print(json.dumps(earned, indent=1))  # what the "any" attempts earned, for the record

    # Automatic and manual points apart: the written answer is pending until graded by hand.
    assert results["solution"]["manual_max"] == WRITTEN_POINTS
    assert results["solution"]["manual_score"] is None and results["solution"]["total"] is None
    grades = _rows(out / "grades.csv")
    assert grades["solution"]["score"] == str(float(full)) and grades["solution"]["total"] == ""
    assert _rows(out / "lms.csv")["solution"]["exercises (points)"] == ""
    assert "| solution | 4.0 / 4.0 | pending / 1.0 | pending / 5.0 |" in (
        out / "summary.md"
    ).read_text(encoding="utf-8")
    assert "to be graded / 1" in _text_of(out / "feedback" / "solution" / "Exercises.html")

    table = _rows(out / MANUAL_GRADES)
    assert set(table) == set(results) and table["solution"]["written"] == ""
    with (out / MANUAL_GRADES).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "written"])
        writer.writerows([["solution", "1"], [CASES[0].name, "0.5"]])
    again = autograde("exercises", subs, demo_course, out=out, workers=2)
    assert again["graded"] == []  # nothing changed: nothing regraded, the totals follow
    graded = again["results"]
    assert graded["solution"]["manual_score"] == 1 and graded["solution"]["total"] == full + 1
    assert graded[CASES[0].name]["total"] == earned[CASES[0].name] + 0.5
    assert graded[CASES[1].name]["total"] is None
    assert _rows(out / "lms.csv")["solution"]["exercises (points)"] == str(float(full + 1))
