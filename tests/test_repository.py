"""The repository keeps its promises: README commands, CI, pins, the one project URL, credits."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import mitdeeplearning
from mitdeeplearning import data

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

#: Repositories the README cites that are not this project.
EXTERNAL_REPOS = {"aamini/introtodeeplearning", "aamini/introtodeeplearning_labs"}


def setup_call_kwargs() -> dict:
    """The literal keyword arguments of setup.py's setup() call, read without running it."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    assignments = {
        node.targets[0].id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    call = next(
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "setup"
    )
    kwargs = {}
    for kw in call.keywords:
        value = (
            assignments.get(kw.value.id, kw.value) if isinstance(kw.value, ast.Name) else kw.value
        )
        try:
            kwargs[kw.arg] = ast.literal_eval(value)
        except ValueError:
            continue
    return kwargs


SETUP = setup_call_kwargs()


def readme_code_blocks() -> list[str]:
    return re.findall(r"```(?:bash|text)?\n(.*?)```", README, flags=re.S)


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    # Besides the test command, CI may only install the grading sandbox (bubblewrap), in one
    # `if ... fi` block that does nothing else.
    setup = re.findall(r"^if .*?^fi$", ci, flags=re.M | re.S)
    assert len(setup) <= 1 and all("bubblewrap" in block for block in setup)
    for block in setup:
        installs = re.findall(r"apt-get install -y -q (\S+)", block)
        assert installs and set(installs) == {"bubblewrap"}
        ci = ci.replace(block, "")
    commands = [
        line.strip()
        for line in ci.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
        and not line.startswith(("set ", "cd ", "export "))
    ]  # fmt: skip
    assert commands == ["python tasks.py test"]
    assert "python tasks.py test" in readme_code_blocks()[2]


def test_quickstart_has_one_run_and_one_test_command():
    quickstart = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", quickstart, flags=re.S)
    commands = [line for block in blocks for line in block.splitlines() if line.strip()]
    assert commands[2:] == ["python tasks.py run", "python tasks.py test"]
    assert "apt" not in quickstart and "sudo" not in quickstart


def test_project_url_is_written_once_and_used_everywhere():
    url = SETUP["url"]
    owner_repo = url.removeprefix("https://github.com/")
    assert mitdeeplearning.project_url() == url
    for path in [ROOT / "README.md", ROOT / "CITATION.cff", *ROOT.glob("labs/**/*.ipynb")]:
        text = path.read_text(encoding="utf-8")
        mentioned = set(
            re.findall(r"github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?(?=[/)\s\"']|$)", text)
        )
        ours = mentioned - EXTERNAL_REPOS
        assert ours <= {owner_repo}, f"{path.name} names {ours - {owner_repo}}; setup.py says {url}"
    assert f"git clone {url}" in README


def test_citation_matches_package_version_and_url():
    cff = (ROOT / "CITATION.cff").read_text()
    assert f'version: "{mitdeeplearning.__version__}"' in cff
    assert f'repository-code: "{SETUP["url"]}"' in cff


def pins() -> dict[str, str]:
    result = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", f"requirements.txt must pin exactly: {line}"
            result[req.name.lower().replace("_", "-")] = spec.version
    return result


def test_requirements_pins_satisfy_setup_ranges():
    pinned = pins()
    declared = SETUP["install_requires"] + [
        r for extra in SETUP["extras_require"].values() for r in extra
    ]
    for line in declared:
        req = Requirement(line)
        name = req.name.lower().replace("_", "-")
        assert name in pinned, f"{name} is a dependency but requirements.txt does not pin it"
        assert req.specifier.contains(pinned[name]), f"{name}=={pinned[name]} is outside {req}"


def test_dependencies_do_not_install_second_copies_on_colab():
    names = {Requirement(r).name.lower().replace("_", "-") for r in SETUP["install_requires"]}
    assert "tensorflow" in names and "tensorflow-cpu" not in names
    assert len([n for n in names if n.startswith("opencv")]) == 1
    assert set(pins()) >= names  # and every one is pinned for offline users


def test_python_requirement_and_console_script():
    assert SETUP["python_requires"] == ">=3.11"
    assert SETUP["entry_points"]["console_scripts"] == ["mitdl = mitdeeplearning.cli:main"]


@pytest.mark.parametrize("entry", data.datasets(), ids=lambda e: e.name)
def test_every_dataset_is_credited_in_the_readme(entry):
    credits = README.split("## Datasets and credits", 1)[1].split("\n## ", 1)[0]
    assert f"`{entry.name}`" in credits


def test_layout():
    layout = ["mitdeeplearning", "labs", "data", "tests", "benchmarks", "setup.py"]
    layout += ["requirements.txt", "README.md", "LICENSE", "CITATION.cff", ".ci/run"]
    for name in layout:
        assert (ROOT / name).exists(), name
    assert "MIT License" in (ROOT / "LICENSE").read_text()


def test_nothing_linux_only_on_the_users_path():
    shell_scripts = [p for p in ROOT.rglob("*.sh") if ".venv" not in p.parts]
    assert shell_scripts == []
    for path in [ROOT / "setup.py", ROOT / "tasks.py", *ROOT.glob("mitdeeplearning/**/*.py")]:
        text = path.read_text()
        assert "apt-get" not in text and "apt install" not in text, path


def test_the_fast_test_command_skips_the_slow_tests(monkeypatch):
    development = README.split("## Development", 1)[1].split("\n## ", 1)[0]
    assert "python tasks.py test --fast" in development
    import importlib.util

    spec = importlib.util.spec_from_file_location("tasks_under_test", ROOT / "tasks.py")
    tasks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tasks)
    commands = []
    monkeypatch.setattr(tasks, "ensure_env", lambda extra="": Path("python"))
    monkeypatch.setattr(tasks, "sh", lambda *cmd, **kwargs: commands.append((cmd, kwargs)))
    tasks.main(["test", "--fast", "-k", "fetch"])
    (pytest_cmd, kwargs) = commands[-1]
    assert pytest_cmd[1:3] == ("-m", "pytest") and "--fast" not in pytest_cmd
    assert pytest_cmd[-4:] == ("-k", "fetch", "-m", "not slow")
    assert kwargs["env"]["MITDL_FAST"] == "1"
    commands.clear()
    tasks.main(["test"])
    assert "not slow" not in commands[-1][0]  # CI's command runs everything
