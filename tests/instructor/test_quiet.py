"""`mitdl run` prints progress and results; what the kernel process prints itself (ipykernel's
TCP warning, TensorFlow's C++ start-up lines) goes to a log named at the end, and a failure
still shows its error and the log's last lines. nbgrader's failures name the error, not the
start-up lines."""

from __future__ import annotations

import shutil

import nbformat
import pytest

from mitdeeplearning import cli
from mitdeeplearning.instructor import course
from mitdeeplearning.instructor.course import START_UP_NOISE, CourseError, run_nbgrader

#: What TensorFlow's C++ side writes to the kernel's stderr at import, as it writes it.
TF_LINES = (
    "2026-01-01 00:00:00.000000: I tensorflow/core/util/port.cc:153] oneDNN custom operations "
    "are on. You may see slightly different numerical results due to floating-point round-off "
    "errors from different computation orders.\n"
    "E0000 00:00:1700000000.000000   123 cuda_dnn.cc:8310] Unable to register cuDNN factory: "
    "Attempting to register factory for plugin cuDNN when one has already been registered\n"
)


def _course(root, cells):
    (root / "source" / "quiet").mkdir(parents=True)
    shutil.copy(course.DEFAULT_COURSE / "nbgrader_config.py", root / "nbgrader_config.py")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    notebook.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"}}  # fmt: skip
    nbformat.write(notebook, root / "source" / "quiet" / "Quiet.ipynb")
    return root


@pytest.mark.slow
def test_run_sends_the_kernels_own_output_to_a_log_named_at_the_end(tmp_path, capfd):
    root = _course(tmp_path / "course", [
        f"import os\nos.write(2, {TF_LINES.encode()!r})",
        "print('the notebook speaks')",
    ])  # fmt: skip
    out = tmp_path / "out"
    assert cli.main(["run", "quiet", "--fast", "--course", str(root), "--out", str(out), "-q"]) == 0
    printed = capfd.readouterr()
    log = out / "quiet" / "Quiet.log"
    for line in ("Kernel is running over TCP without encryption", "oneDNN", "cuDNN factory"):
        assert line not in printed.out + printed.err, line
        assert line in log.read_text(encoding="utf-8"), line
    assert f"kernel output (TensorFlow's start-up lines, warnings): {log}" in printed.out
    assert "Quiet: " in printed.out and "the notebook speaks" not in printed.out


@pytest.mark.slow
def test_a_failing_or_dying_kernel_still_shows_its_error_and_the_logs_end(tmp_path, capfd):
    root = _course(tmp_path / "course", [
        f"import os\nos.write(2, {TF_LINES.encode()!r})",
        "os.write(2, b'F0000 check_op.h:42] Check failed: shape mismatch\\n')\nos.abort()",
    ])  # fmt: skip
    out = tmp_path / "out"
    assert cli.main(["run", "quiet", "--fast", "--course", str(root), "--out", str(out), "-q"]) == 1
    err = capfd.readouterr().err
    assert "mitdl run: Quiet.ipynb: a cell failed:" in err
    assert "Check failed: shape mismatch" in err and str(out / "quiet" / "Quiet.log") in err


def test_start_up_noise_is_recognised_and_errors_are_not():
    for line in [*TF_LINES.splitlines(), "[IPKernelApp] WARNING | Kernel is running over TCP "
                 "without encryption. All communication ..."]:  # fmt: skip
        assert START_UP_NOISE.search(line), line
    for line in ["ZeroDivisionError: division by zero", "[AutogradeApp] ERROR | There was an "
                 "error processing assignment", "E0000 Check failed: a real error"]:  # fmt: skip
        assert not START_UP_NOISE.search(line), line


def test_nbgrader_failures_end_with_the_error_not_the_start_up_lines(tmp_path, monkeypatch):
    # A stand-in for nbgrader that prints start-up noise after its error, as a kernel's
    # stderr interleaves with nbgrader's log.
    fake = tmp_path / "nbgrader"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "__main__.py").write_text(
        "import sys\nprint('[AutogradeApp] ERROR | the real error')\n"
        f"sys.stderr.write({TF_LINES!r})\n"
        "sys.stderr.write('[IPKernelApp] WARNING | Kernel is running over TCP without "
        "encryption.\\n')\nsys.exit(1)\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    log = tmp_path / "nbgrader.log"
    with pytest.raises(CourseError) as caught:
        run_nbgrader(["autograde", "lab"], tmp_path, log=log)
    message = str(caught.value)
    assert message.splitlines()[-1] == "[AutogradeApp] ERROR | the real error"
    assert "oneDNN" not in message and "oneDNN" in log.read_text(encoding="utf-8")
