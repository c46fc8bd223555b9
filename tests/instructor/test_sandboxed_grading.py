"""One student can harm no one else: real `autograde` runs of the demo course where submissions
start a detached process, write the gradebook, rewrite their own graded notebook, reach a
service on this machine, or run past the time limit (slow; skipped, saying why, where the
sandbox cannot run)."""

from __future__ import annotations

import copy
import csv
import json
import socket
import threading
import time

import pytest

from mitdeeplearning.instructor.autograde import Settings, autograde
from mitdeeplearning.instructor.sandbox import sandbox_problem

PROBLEM = sandbox_problem()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(PROBLEM is not None, reason=f"no sandbox here: {PROBLEM}"),
]

WRONG = "return a - b"


def _answered(release: dict, answer: str) -> dict:
    notebook = copy.deepcopy(release)
    for cell in notebook["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "add":
            cell["source"] = f"def add(a, b):\n    {answer}"
    return notebook


def _hostile(release: dict, attack: str) -> dict:
    """A wrong answer followed by an extra cell that runs `attack`."""
    notebook = _answered(release, WRONG)
    notebook["cells"].insert(3, {"cell_type": "code", "metadata": {}, "outputs": [],
                                 "execution_count": None, "source": attack})  # fmt: skip
    return notebook


DETACHED = """\
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep({delay})
        for path in {targets!r}:
            try:
                open(path, "w").write("blanked")
            except OSError:
                pass
        os._exit(0)
    os._exit(0)
"""

FORGER = """\
import glob, json, os, threading, time
def forge():
    # wait for the graded notebook, then clear every error in it
    while True:
        for path in glob.glob(os.path.join(os.getcwd(), "*.ipynb")):
            try:
                notebook = json.load(open(path))
                for cell in notebook["cells"]:
                    cell["outputs"] = [o for o in cell.get("outputs", [])
                                       if o.get("output_type") != "error"]
                json.dump(notebook, open(path + ".tmp", "w"))
                os.replace(path + ".tmp", path)
            except Exception:
                pass
        time.sleep(0.001)
if os.fork() == 0:
    os.setsid()
    forge()
"""

GRADEBOOK = """\
import glob, os, sqlite3
for path in glob.glob("/tmp/**/gradebook.db", recursive=True) + glob.glob(
        os.path.join(os.getcwd(), "..", "..", "..", "gradebook.db")):
    try:
        db = sqlite3.connect(path)
        db.execute("UPDATE grade SET manual_score = 100, auto_score = 100")
        db.commit()
        print("wrote", path)
    except Exception as exc:
        print("refused", type(exc).__name__)
"""

PROBE = """\
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
    print("reached the host's service")
except OSError as exc:
    print("no network:", exc.errno)
"""


def test_no_submission_reaches_another_or_the_grader(demo_course, tmp_path):
    release = json.loads((demo_course / "release/demo/Demo.ipynb").read_text())
    solution = json.loads((demo_course / "source/demo/Demo.ipynb").read_text())
    inbox, out = tmp_path / "in", tmp_path / "out"
    honest_file = inbox / "honest" / "Demo.ipynb"
    server = socket.create_server(("127.0.0.1", 0))
    reached = []
    threading.Thread(target=lambda: reached.append(server.accept()), daemon=True).start()
    targets = [str(honest_file), str(out / "grades.csv"), str(out / "results.json")]
    students = {
        "honest": solution,
        "detached": _hostile(release, DETACHED.format(delay=4, targets=targets)),
        "forger": _hostile(release, FORGER),
        "gradebook": _hostile(release, GRADEBOOK),
        "probe": _hostile(release, PROBE.format(port=server.getsockname()[1])),
    }
    for sid, notebook in students.items():
        (inbox / sid).mkdir(parents=True)
        (inbox / sid / "Demo.ipynb").write_text(json.dumps(notebook))
    honest_text = honest_file.read_text()
    results = autograde("demo", inbox, demo_course, out=out, workers=2)["results"]
    time.sleep(6)  # the detached process would have written by now
    server.close()
    assert results["honest"]["score"] == 2.0
    for sid in ("detached", "forger", "gradebook", "probe"):
        assert results[sid]["score"] == 0.0, (sid, results[sid])
    assert honest_file.read_text() == honest_text
    with (out / "grades.csv").open(newline="", encoding="utf-8") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert float(rows["honest"]["score"]) == 2.0 and set(rows) == set(students)
    assert json.loads((out / "results.json").read_text())["results"]["honest"]["score"] == 2.0
    assert reached == []  # the service on this machine never saw a connection
    # what nbgrader and the kernels printed is kept per student, off the terminal
    assert "[AutogradeApp | INFO]" in (out / "logs" / "honest.log").read_text()
    assert set(p.stem for p in (out / "logs").iterdir()) == set(students)
    assert all(not r.get("sandbox_problem") for r in results.values())


def test_the_time_limit_covers_the_whole_job(demo_course, tmp_path):
    release = json.loads((demo_course / "release/demo/Demo.ipynb").read_text())
    inbox, out = tmp_path / "in", tmp_path / "out"
    (inbox / "loops").mkdir(parents=True)
    loops = _hostile(release, "import time\nwhile True:\n    time.sleep(1)")
    (inbox / "loops" / "Demo.ipynb").write_text(json.dumps(loops))
    tic = time.monotonic()
    settings = Settings(cell_timeout=600, timeout=40)
    result = autograde("demo", inbox, demo_course, out=out, workers=1, settings=settings)
    assert time.monotonic() - tic < 150
    problems = result["results"]["loops"]["problems"]
    assert result["results"]["loops"]["score"] == 0.0
    assert any("grading stopped" in p for p in problems), problems
