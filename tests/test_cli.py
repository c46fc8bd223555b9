"""The `mitdl` command, run as a real subprocess where start-up cost or exit codes matter."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap

import pytest

import mitdeeplearning
from mitdeeplearning import cli


def mitdl(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "mitdeeplearning", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_version():
    result = mitdl("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"mitdl {mitdeeplearning.__version__}"


NO_TF = textwrap.dedent(
    """
    import sys
    {stmt}
    heavy = [m for m in ("tensorflow", "keras", "music21", "nbgrader", "cv2", "matplotlib")
             if m in sys.modules]
    assert not heavy, heavy
    """
)


@pytest.mark.parametrize(
    "stmt",
    [
        "import mitdeeplearning",
        "import contextlib\nfrom mitdeeplearning import cli\n"
        "with contextlib.suppress(SystemExit):\n    cli.main(['--help'])",
        "from mitdeeplearning import cli\ncli.main(['datasets'])",
    ],
    ids=["import", "help", "datasets"],
)
def test_no_heavy_imports(stmt):
    result = subprocess.run(
        [sys.executable, "-c", NO_TF.format(stmt=stmt)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_datasets_lists_registry_with_status(cache):
    result = mitdl("datasets")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "SIZE", "STATUS", "LICENSE"]
    assert any(line.startswith("oneills1850") and "bundled" in line for line in lines)
    assert any(line.startswith("mit-irish-tunes") and "not cached" in line for line in lines)
    assert f"Cache: {cache}" in result.stdout


def test_datasets_json_and_details(cache):
    listing = json.loads(mitdl("datasets", "--json").stdout)
    assert listing["cache_dir"] == str(cache)
    assert {"essen", "nih-chestxray14"} <= {d["name"] for d in listing["datasets"]}
    detail = mitdl("datasets", "essen")
    assert detail.returncode == 0
    assert "non-commercial" in detail.stdout and "Schaffrath" in detail.stdout


def test_unknown_dataset_is_an_error_that_lists_known_ones(cache):
    for args in (("fetch", "nope"), ("datasets", "nope")):
        result = mitdl(*args)
        assert result.returncode == 1
        assert result.stderr.startswith("mitdl: error: Unknown dataset 'nope'")
        assert "oneills1850" in result.stderr and "Traceback" not in result.stderr


def test_fetch_downloads_and_prints_the_path(server, cache):
    content = b"X:1\nT:Test\nK:D\nABC|\n"
    url = server.add("/t.abc", content)
    result = mitdl("fetch", url, "--sha256", hashlib.sha256(content).hexdigest(), "-q")
    assert result.returncode == 0, result.stderr
    path = result.stdout.strip()
    assert path.startswith(str(cache))
    with open(path, "rb") as f:
        assert f.read() == content


def test_fetch_failure_is_one_clear_line(server, cache):
    result = mitdl("fetch", server.url("/missing"), "--sha256", "0" * 64, "-q")
    assert result.returncode == 1
    assert "HTTP 404" in result.stderr and "Traceback" not in result.stderr


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 0
    assert "datasets" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("size", "text"), [(None, "?"), (512, "512 B"), (197_618, "197.6 KB"), (45e9, "45.0 GB")]
)
def test_human_size(size, text):
    assert cli._human_size(size) == text
