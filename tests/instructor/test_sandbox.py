"""mitdeeplearning.instructor.sandbox: what a graded job can and cannot reach, for real, through
bubblewrap (skipped, with the reason printed, where it cannot run)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from mitdeeplearning.instructor.sandbox import (
    SandboxTimeout,
    run_sandboxed,
    sandbox_problem,
    sandboxed,
)

PROBLEM = sandbox_problem()
needs_sandbox = pytest.mark.skipif(PROBLEM is not None, reason=f"no sandbox here: {PROBLEM}")


def python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def test_the_command_line_names_every_protection():
    command = sandboxed(["nbgrader", "autograde", "lab2"], writable=["/tmp/scratch/course"])
    for option in ("--unshare-net", "--unshare-pid", "--die-with-parent", "--new-session"):
        assert option in command
    assert command[command.index("--ro-bind") + 1 : command.index("--ro-bind") + 3] == ["/", "/"]
    assert command[command.index("--bind") : command.index("--bind") + 3] == [
        "--bind",
        "/tmp/scratch/course",
        "/tmp/scratch/course",
    ]
    assert command[-3:] == ["nbgrader", "autograde", "lab2"]


@needs_sandbox
def test_only_the_writable_folder_can_be_written(tmp_path):
    scratch, elsewhere = tmp_path / "scratch", tmp_path / "other-student"
    scratch.mkdir()
    elsewhere.mkdir()
    (elsewhere / "Lab.ipynb").write_text("original")
    code = f"""
        import pathlib
        pathlib.Path({str(scratch)!r}, "mine.txt").write_text("written")
        for target in ({str(elsewhere / "Lab.ipynb")!r}, {os.path.expanduser("~/mitdl-x")!r}):
            try:
                pathlib.Path(target).write_text("blanked")
                print("wrote", target)
            except OSError as exc:
                print("refused", exc.errno)
    """
    done = run_sandboxed(python(code), writable=[scratch], timeout=60)
    assert done.returncode == 0, done.stderr
    assert (scratch / "mine.txt").read_text() == "written"
    assert (elsewhere / "Lab.ipynb").read_text() == "original"
    # another student's scratch folder under /tmp is not even there (ENOENT: /tmp is private),
    # the rest of the system is read-only (EROFS)
    assert done.stdout.split() == ["refused", "2", "refused", "30"]
    assert not os.path.exists(os.path.expanduser("~/mitdl-x"))


@needs_sandbox
def test_no_service_of_the_host_is_reachable_not_even_on_loopback(tmp_path):
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    code = f"""
        import socket
        probe = socket.socket()
        probe.settimeout(3)
        print(probe.connect_ex(("127.0.0.1", {port})))
    """
    done = run_sandboxed(python(code), writable=[], timeout=60)
    server.close()
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) != 0 and not accepted  # refused: the host's server never saw it
    # the same probe outside the sandbox does reach it (the test would mean nothing otherwise)
    server = socket.create_server(("127.0.0.1", 0))
    outside = subprocess.run(python(code.replace(str(port), str(server.getsockname()[1]))),
                             capture_output=True, text=True)  # fmt: skip
    server.close()
    assert int(outside.stdout) == 0


@needs_sandbox
def test_a_detached_process_dies_with_the_job(tmp_path):
    # A submission double-forks a process into a new session that waits, then writes: after
    # the job has ended it must be gone, and its write never happen.
    code = f"""
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(1.5)
                open({str(tmp_path / "late.txt")!r}, "w").write("still alive")
                os._exit(0)
            os._exit(0)
        print("parent done")
    """
    done = run_sandboxed(python(code), writable=[tmp_path], timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "parent done", done.stderr
    time.sleep(3)
    assert not (tmp_path / "late.txt").exists()


@needs_sandbox
def test_the_time_limit_kills_the_whole_job(tmp_path):
    code = f"""
        import os, time
        if os.fork() == 0:
            os.setsid()
            time.sleep(4)
            open({str(tmp_path / "child.txt")!r}, "w").write("survived")
            os._exit(0)
        time.sleep(60)
    """
    tic = time.monotonic()
    with pytest.raises(SandboxTimeout, match="longer than 1 s and was stopped"):
        run_sandboxed(python(code), writable=[tmp_path], timeout=1)
    assert time.monotonic() - tic < 15
    time.sleep(5)
    assert not (tmp_path / "child.txt").exists()


@needs_sandbox
def test_the_memory_limit_holds_inside(tmp_path):
    code = """
        try:
            block = bytearray(1_500_000_000)
            print("allocated")
        except MemoryError:
            print("refused")
    """
    done = run_sandboxed(python(code), writable=[], timeout=60, memory_limit=1024**3)
    assert done.stdout.strip() == "refused", done.stderr


def test_without_the_sandbox_the_limits_still_hold(tmp_path):
    with pytest.raises(SandboxTimeout):
        run_sandboxed(python("import time; time.sleep(60)"), writable=[], timeout=1,
                      sandbox=False)  # fmt: skip
    done = run_sandboxed(python("print('plain')"), writable=[], sandbox=False, timeout=60)
    assert done.stdout.strip() == "plain"


def test_the_problem_is_one_sentence_with_a_fix(monkeypatch):
    sandbox_problem.cache_clear()
    monkeypatch.setattr("shutil.which", lambda name: None)
    try:
        problem = sandbox_problem()
    finally:
        sandbox_problem.cache_clear()
    if sys.platform.startswith("linux"):
        assert problem.startswith("bubblewrap is not installed") and "package" in problem
    else:
        assert "needs Linux" in problem


def test_the_kernel_spec_starts_the_kernel_in_a_sandbox_of_its_own(tmp_path):
    import json

    from mitdeeplearning.instructor import kernel_sandbox

    spec = json.loads((kernel_sandbox.write_kernel_spec(tmp_path) / "kernel.json").read_text())
    assert spec["argv"][1:3] == ["-m", "mitdeeplearning.instructor.kernel_sandbox"]
    assert spec["interrupt_mode"] == "message"  # a signal would reach bubblewrap, not the kernel
    command = kernel_sandbox.command("/tmp/k.json", "/tmp/course", "/tmp/course/run", ["--x=1"])
    joined = " ".join(command)
    assert "--unshare-pid" in command and "--die-with-parent" in command
    assert "--ro-bind /tmp/course /tmp/course --bind /tmp/course/run /tmp/course/run" in joined
    assert "--unsetenv JPY_PARENT_PID" in joined  # its parent is bubblewrap's init
    assert command[-4:] == ["ipykernel_launcher", "-f", "/tmp/k.json", "--x=1"]


@needs_sandbox
def test_a_python_that_lives_under_tmp_still_starts_inside(tmp_path):
    # /tmp is an empty folder inside the sandbox: a virtual environment (or a checkout) under
    # it, as CI's clean clone may be, must stay visible for the command to start at all.
    import venv
    from pathlib import Path

    venv.create(tmp_path / "env", system_site_packages=True, with_pip=False)
    root = Path(__file__).resolve().parents[2]
    script = (
        "import sys\n"
        "from mitdeeplearning.instructor.sandbox import run_sandboxed\n"
        "done = run_sandboxed([sys.executable, '-c', 'import sys; print(sys.prefix)'],"
        " writable=[], timeout=60)\n"
        "print(done.returncode, done.stdout.strip(), done.stderr.strip()[-200:])\n"
    )
    done = subprocess.run([str(tmp_path / "env" / "bin" / "python"), "-c", script],
                          capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(root)})  # fmt: skip
    assert done.stdout.split()[:2] == ["0", str(tmp_path / "env")], done.stdout + done.stderr
