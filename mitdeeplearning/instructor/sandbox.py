"""Run one student's grading inside an operating-system sandbox (Linux: bubblewrap).

A submission is code, and autograding runs it. Inside the kernel it can start a detached
process, open a network connection to any service on the machine (a Dask scheduler, a Jupyter
server), or write to any file the grader can write. `sandboxed` wraps a command (nbgrader, and
through it nbclient and the kernel) so that it runs:

* with **no network**: a network namespace of its own, holding only its own loopback, so no
  service of the host (not even one on ``127.0.0.1``) is reachable, and kernels still talk to
  their own client over their own loopback;
* in a **PID namespace** of its own: when the command ends, the namespace's first process
  (bubblewrap's) ends with it, and the kernel kills every process left in the namespace (a
  detached or double-forked one included), so nothing a student started outlives their grading;
* on a **read-only system**: the whole file system is mounted read-only, with a fresh ``/tmp``
  and ``/dev``, and only the folders named in ``writable`` (that student's scratch course) can
  be written;
* under a **time and memory limit** for the whole job: on the time limit the sandbox and
  everything in it is killed (``--die-with-parent`` and the PID namespace), and the memory limit
  (``RLIMIT_AS``) is set before the sandbox starts, so every process in it inherits it.

Bubblewrap (`bwrap`, the package ``bubblewrap`` on most distributions; the sandbox Flatpak
uses) needs unprivileged user namespaces or root. Where it is missing or refused (macOS, Windows, a
container without user namespaces) `sandbox_problem` says why, and grading runs unsandboxed:
the caller says so once, plainly.

>>> import sys
>>> command = sandboxed([sys.executable, "-c", "print('hello')"], writable=["/tmp/scratch"])
>>> command[0], "--unshare-net" in command, command[-2:]
('bwrap', True, ['-c', "print('hello')"])
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["SandboxTimeout", "run_sandboxed", "sandbox_problem", "sandboxed"]


class SandboxTimeout(RuntimeError):
    """The sandboxed command ran past its time limit and was killed with all it started."""


@functools.cache
def sandbox_problem() -> str | None:
    """None when commands can be sandboxed here, else one sentence saying why not and what
    would fix it. Tried once per process (a real ``bwrap`` run of ``true``)."""
    if not sys.platform.startswith("linux"):
        return f"the sandbox needs Linux (bubblewrap); this is {sys.platform}."
    if shutil.which("bwrap") is None:
        return (
            "bubblewrap is not installed: install your system's bubblewrap package (named "
            "bubblewrap on Debian, Ubuntu, Fedora and Arch)."
        )
    probe = [*_bwrap_options([]), "--", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not start ({exc})."
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return (
            f"bubblewrap is installed but refused to run ({reason}): unprivileged user "
            "namespaces may be disabled (sysctl kernel.unprivileged_userns_clone=1, or "
            "kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu 24.04)."
        )
    return None


def _python_under_tmp() -> list[str]:
    """The folders this Python runs from (its prefixes and import path) that lie under /tmp,
    which the sandbox replaces by an empty folder: a virtual environment or a checkout there
    must stay visible, read-only, for the command to start."""
    tmp = Path("/tmp").resolve()
    found = []
    for entry in {sys.prefix, sys.exec_prefix, sys.base_prefix, *sys.path}:
        path = Path(entry or ".").absolute()
        resolved = path.resolve() if path.exists() else None
        if (
            resolved is not None
            and path.is_dir()
            and (tmp in resolved.parents or tmp in path.parents)
        ):
            found += [str(path)] + ([str(resolved)] if resolved != path else [])
    # a folder inside another is bound with it
    found = sorted(set(found))
    return [p for p in found if not any(p.startswith(q + os.sep) for q in found)]


def _bwrap_options(writable: Sequence[str | os.PathLike]) -> list[str]:
    options = [
        "bwrap", "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
        "--die-with-parent", "--new-session",
        "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
    ]  # fmt: skip
    for folder in _python_under_tmp():
        options += ["--ro-bind", folder, folder]
    for folder in writable:
        path = str(Path(folder).absolute())
        options += ["--bind", path, path]
    return options


def sandboxed(
    command: Sequence[str | os.PathLike], *, writable: Sequence[str | os.PathLike]
) -> list[str]:
    """The command line that runs `command` in the sandbox.

    Parameters
    ----------
    command : sequence of str
        The program and its arguments, as for `subprocess.run`.
    writable : sequence of paths
        Folders the command may write to (they must exist); everything else is read-only, and
        ``/tmp`` is a fresh, empty, private folder.
    """
    return [*_bwrap_options(writable), "--", *[str(part) for part in command]]


def _limit(memory_limit: int | None):
    def apply() -> None:  # in the child, before bwrap starts: everything inside inherits it
        if memory_limit:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    return apply


def run_sandboxed(
    command: Sequence[str | os.PathLike],
    *,
    writable: Sequence[str | os.PathLike],
    cwd: str | os.PathLike | None = None,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    memory_limit: int | None = None,
    sandbox: bool = True,
) -> subprocess.CompletedProcess:
    """Run `command` in the sandbox (or, with ``sandbox=False``, without it but under the same
    limits) and return its completed process, output captured as text.

    On the time limit every process of the job is killed (the sandbox's whole PID namespace;
    without the sandbox, the command's process group) and `SandboxTimeout` is raised.
    ``memory_limit`` is in bytes (address space, per process).
    """
    if sandbox:
        command = sandboxed(command, writable=writable)
    process = subprocess.Popen(
        [str(part) for part in command], cwd=cwd, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=_limit(memory_limit),
    )  # fmt: skip
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise SandboxTimeout(f"the job took longer than {timeout:g} s and was stopped") from None
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.communicate()
