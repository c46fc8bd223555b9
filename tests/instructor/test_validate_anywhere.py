"""Students validate where they work: `mitdl validate` from an installed package (no source
checkout), and `validate_this_notebook` from inside the notebook in Jupyter and in Colab."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tarfile
import types
from pathlib import Path

import pytest

from mitdeeplearning import cli
from mitdeeplearning.instructor import course, validate
from mitdeeplearning.instructor.course import CourseError

ROOT = course.DEFAULT_COURSE.parent
RELEASE = course.DEFAULT_COURSE / "release"
PART1 = RELEASE / "lab1" / "Part1_TensorFlow.ipynb"


def _colab_copy(notebook: dict) -> dict:
    """What Colab can hand over: no nbgrader metadata, no cell ids, its own name."""
    notebook = copy.deepcopy(notebook)
    notebook["metadata"]["colab"] = {"name": "Copy of Part1_TensorFlow.ipynb", "provenance": []}
    for cell in notebook["cells"]:
        cell.get("metadata", {}).pop("nbgrader", None)
        cell.pop("id", None)
    notebook["nbformat_minor"] = 4
    return notebook


@pytest.fixture
def installed(monkeypatch, tmp_path):
    """The package as installed from a wheel: no course folder beside it, the release notebooks
    shipped inside it (here: a copy of labs/release in a folder of the test's)."""
    shipped = tmp_path / "site-packages" / "mitdeeplearning" / "course_data" / "release"
    shutil.copytree(RELEASE, shipped)
    monkeypatch.setattr(validate, "DEFAULT_COURSE", tmp_path / "site-packages" / "labs")
    monkeypatch.setattr(validate, "SHIPPED_RELEASE", shipped)
    return shipped


# ## Where the release notebooks come from ------------------------------------------------------


def test_validate_outside_a_checkout_compares_with_the_shipped_release(installed, tmp_path):
    notebook = tmp_path / "Copy of Part1_TensorFlow.ipynb"
    notebook.write_text(json.dumps(_colab_copy(json.loads(PART1.read_text()))))
    report = validate.validate(notebook, run=False)
    assert (report["lab"], report["notebook"]) == ("lab1", "Part1_TensorFlow.ipynb")
    assert report["releases"] == str(installed)
    assert "tensors" in report["repaired"] and "tensors" in report["unanswered"]


def test_the_course_folder_comes_first_and_a_wrong_one_is_an_error(installed, tmp_path):
    assert validate.release_folder(course.DEFAULT_COURSE) == RELEASE
    with pytest.raises(CourseError, match="is not a course folder"):
        validate.release_folder(tmp_path / "nowhere")  # never the shipped copy instead
    assert validate.release_folder() == installed


def test_a_checkout_prefers_its_labs_folder():
    assert validate.release_folder() == RELEASE


def test_without_either_the_error_names_both_places(installed, tmp_path, capsys):
    shutil.rmtree(installed)
    with pytest.raises(CourseError) as caught:
        validate.release_folder()
    message = str(caught.value)
    assert str(tmp_path / "site-packages" / "labs") in message and str(installed) in message
    assert "--course" in message and "pip install" in message
    assert cli.main(["validate", str(PART1), "--no-run"]) == 1
    assert str(installed) in capsys.readouterr().err


def test_mitdl_validate_identifies_the_lab_from_the_shipped_copy(installed, tmp_path, capsys):
    notebook = tmp_path / "Part1 (1).ipynb"
    shutil.copy(PART1, notebook)
    assert cli.main(["validate", str(notebook), "--no-run"]) == 1  # unanswered: not ready
    out = capsys.readouterr().out
    assert "Part1 (1).ipynb: lab1/Part1_TensorFlow.ipynb, 5 graded tests" in out
    assert "unanswered: tensors" in out and "Not ready yet" in out


# ## From inside the notebook: Jupyter and VS Code -----------------------------------------------


def test_jupyter_names_the_notebook_by_its_session(monkeypatch, tmp_path):
    notebook = tmp_path / "lab" / "Part1_TensorFlow.ipynb"
    notebook.parent.mkdir()
    shutil.copy(PART1, notebook)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert validate.jupyter_notebook_file({}) is None
    monkeypatch.setenv("JPY_SESSION_NAME", str(notebook))  # Jupyter Server 2: the full path
    assert validate.jupyter_notebook_file({}) == notebook
    monkeypatch.chdir(notebook.parent)  # older servers: relative to the server's root
    monkeypatch.setenv("JPY_SESSION_NAME", "lab/Part1_TensorFlow.ipynb")
    assert validate.jupyter_notebook_file({}) == notebook
    monkeypatch.setenv("JPY_SESSION_NAME", "console-1-5f1c")  # a console, not a notebook
    assert validate.jupyter_notebook_file({}) is None
    assert validate.jupyter_notebook_file({"__session__": str(notebook)}) == notebook
    vscode = {"__vsc_ipynb_file__": str(notebook), "__session__": "/gone/Other.ipynb"}
    assert validate.jupyter_notebook_file(vscode) == notebook


def test_nowhere_to_find_it_says_what_to_do(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert validate.validate_this_notebook() is None
    out = capsys.readouterr().out
    assert "Cannot check this notebook from here" in out
    assert "File > Download > Download .ipynb" in out and "mitdl validate FILE.ipynb" in out


def test_a_path_given_is_checked_instead(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    validate.validate_this_notebook(PART1)
    out = capsys.readouterr().out
    assert f"Checking {PART1}." in out and "lab1/Part1_TensorFlow.ipynb, 5 graded tests" in out
    validate.validate_this_notebook(tmp_path / "missing.ipynb")
    assert "missing.ipynb" in capsys.readouterr().out  # the reading error, not a traceback


@pytest.mark.slow
def test_validate_this_notebook_in_a_real_jupyter_kernel(tmp_path):
    """The kernel sees JPY_SESSION_NAME as a Jupyter server sets it; ipykernel copies it into
    ``__session__``, which is what the check reads once the variable is gone."""
    import nbformat
    from nbclient import NotebookClient

    student = tmp_path / "Part1_TensorFlow.ipynb"
    shutil.copy(PART1, student)
    code = (
        "import os\n"
        "assert os.environ.pop('JPY_SESSION_NAME') == __session__\n"
        "from mitdeeplearning.instructor.validate import validate_this_notebook\n"
        "validate_this_notebook()"
    )
    runner = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    saved = os.environ.get("JPY_SESSION_NAME")
    os.environ["JPY_SESSION_NAME"] = str(student)  # the kernel inherits it
    try:
        NotebookClient(
            runner, timeout=120, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
        ).execute()
    finally:
        if saved is None:
            os.environ.pop("JPY_SESSION_NAME")
        else:
            os.environ["JPY_SESSION_NAME"] = saved
    out = "".join(o.get("text", "") for o in runner.cells[0].outputs)
    assert f"Checking {student} as last saved" in out
    assert "Part1_TensorFlow.ipynb: lab1/Part1_TensorFlow.ipynb, 5 graded tests" in out


# ## From inside the notebook: Colab, through a stand-in for its messaging ------------------------


def _stand_in_colab(monkeypatch, answer):
    """``google.colab._message`` as Colab's runtime has it: `blocking_request` returns what the
    editor answers (``{"ipynb": notebook}``; None when it times out), or raises."""
    asked = []

    def blocking_request(request_type, request="", timeout_sec=5):
        asked.append((request_type, timeout_sec))
        if isinstance(answer, Exception):
            raise answer
        return answer

    message = types.ModuleType("google.colab._message")
    message.blocking_request = blocking_request
    colab = types.ModuleType("google.colab")
    colab._message = message
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab._message", message)
    return asked


def test_colab_hands_over_the_notebook_it_holds(monkeypatch, installed, capsys):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    answer = {"ipynb": _colab_copy(json.loads(PART1.read_text()))}
    answer["ipynb"].pop("nbformat")  # in case Colab leaves it out
    asked = _stand_in_colab(monkeypatch, answer)
    validate.validate_this_notebook()
    out = capsys.readouterr().out
    assert asked and asked[0][0] == "get_ipynb"
    assert "as Colab holds it now" in out
    assert "Copy of Part1_TensorFlow.ipynb: lab1/Part1_TensorFlow.ipynb, 5 graded tests" in out
    assert "the autograder repairs it" in out and "The checks did not run here" in out


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (None, "None"),  # Colab's blocking_request returns None when the editor does not answer
        ({"error": {"type": "timeout"}}, "timeout"),
        (RuntimeError("no frontend"), "RuntimeError: no frontend"),
        ({"ipynb": "not a notebook"}, "ipynb"),
    ],
)
def test_colab_that_does_not_answer_says_what_to_do(monkeypatch, tmp_path, capsys, answer, why):
    _stand_in_colab(monkeypatch, answer)
    validate.validate_this_notebook()
    out = capsys.readouterr().out
    assert "Colab did not hand it over" in out and why in out
    assert "File > Download > Download .ipynb" in out


# ## From a wheel, in a fresh virtual environment -----------------------------------------------


def _source_tree(into: Path) -> Path:
    """A copy of what the package is built from (not the checkout itself: a build writes build/
    and egg-info beside setup.py)."""
    into.mkdir(parents=True)
    for name in ("setup.py", "pyproject.toml", "MANIFEST.in", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, into / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "mitdeeplearning", into / "mitdeeplearning", ignore=ignore)
    shutil.copytree(RELEASE, into / "labs" / "release")
    return into


@pytest.mark.slow
def test_mitdl_validate_from_a_wheel_in_a_fresh_environment(tmp_path):
    source = _source_tree(tmp_path / "source")
    offline = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    offline.pop("PYTHONPATH", None)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", tmp_path / "dist", source],
        check=True, env=offline, cwd=tmp_path,
    )  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("mitdeeplearning-*.whl")
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", env], check=True)
    subprocess.run([env / "bin" / "pip", "install", "-q", "--no-deps", wheel], check=True,
                   env=offline)  # fmt: skip

    where = subprocess.run(
        [env / "bin" / "python", "-c", "import mitdeeplearning; print(mitdeeplearning.__file__)"],
        check=True, capture_output=True, text=True, cwd=tmp_path, env=offline,
    ).stdout.strip()  # fmt: skip
    print("mitdeeplearning imported from", where)
    assert Path(where).is_relative_to(env), where  # not the checkout's editable install
    shipped = Path(where).parent / "course_data" / "release"
    for notebook in RELEASE.glob("*/*.ipynb"):  # the copy is the release, byte for byte
        copied = shipped / notebook.parent.name / notebook.name
        assert copied.read_bytes() == notebook.read_bytes()

    student = tmp_path / "Copy of Part1_TensorFlow.ipynb"
    student.write_text(json.dumps(_colab_copy(json.loads(PART1.read_text()))))
    done = subprocess.run(
        [env / "bin" / "mitdl", "validate", "--no-run", student.name],
        capture_output=True, text=True, cwd=tmp_path, env=offline,
    )  # fmt: skip
    assert "is not a course folder" not in done.stderr, done.stderr
    assert "Copy of Part1_TensorFlow.ipynb: lab1/Part1_TensorFlow.ipynb, 5 graded tests" in (
        done.stdout
    ), done.stdout + done.stderr
    assert "the autograder repairs it" in done.stdout and done.returncode == 1  # unanswered


@pytest.mark.slow
def test_the_sdist_carries_the_release_notebooks(tmp_path):
    source = _source_tree(tmp_path / "source")
    subprocess.run(
        [sys.executable, "setup.py", "-q", "sdist", "-d", tmp_path / "sdist"],
        check=True, cwd=source, capture_output=True,
    )  # fmt: skip
    (archive,) = (tmp_path / "sdist").glob("mitdeeplearning-*.tar.gz")
    with tarfile.open(archive) as tar:
        names = {Path(*Path(n).parts[1:]).as_posix() for n in tar.getnames()}
    expected = {p.relative_to(ROOT).as_posix() for p in RELEASE.glob("*/*.ipynb")}
    assert expected and expected <= names
