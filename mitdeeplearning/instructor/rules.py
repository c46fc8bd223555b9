"""What `mitdeeplearning.instructor.scan` flags in an answer, and why: the tables of dotted
names, attributes, free names, strings and IPython magics, the grading names a cell must not
rebind, and the names each exercise refuses (`mitdeeplearning.grading.REFUSALS`).

Each table maps a name to the reason a flag gives; a dotted name also covers what lies under
it (``subprocess`` covers ``subprocess.run``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from .names import Ref, canonical


def _words(text: str) -> list[str]:
    return text.split()


def _table(text: str) -> dict[str, str]:
    """``reason: name name ...`` lines → name → reason."""
    rules = {}
    for line in text.strip().splitlines():
        reason, names = line.rsplit(": ", 1)
        rules.update(dict.fromkeys(names.split(), reason.strip()))
    return rules


_EXEC = " ".join(
    f"os.exec{s} os.spawn{s}" for s in ("l", "le", "lp", "lpe", "v", "ve", "vp", "vpe")
)

#: Dotted names reached through an import (and everything under them).
MODULE_RULES = _table(f"""
reads the caller's frame: sys._getframe sys._current_frames sys.settrace sys.setprofile inspect
    reads the caller's frame: traceback.walk_stack traceback.walk_tb threading.settrace
searches the interpreter's objects: gc
edits sys.modules: sys.modules
imports by name: sys.meta_path sys.path_hooks sys.path_importer_cache importlib imp runpy pkgutil
    imports by name: zipimport
touches builtins: builtins
builds code objects: types.CodeType types.FunctionType ctypes code codeop
decodes hidden code: base64 codecs zlib marshal pickle bz2 lzma binascii gzip dill cloudpickle
starts a process: subprocess os.system os.popen os.fork os.forkpty os.posix_spawn os.posix_spawnp
    starts a process: pty multiprocessing concurrent.futures.ProcessPoolExecutor {_EXEC}
opens a network connection: socket urllib http requests httpx aiohttp ftplib smtplib ssl xmlrpc
exits the kernel: os._exit sys.exit os.kill os.killpg os.abort signal
writes files: shutil os.remove os.unlink os.rename os.renames os.replace os.rmdir os.removedirs
    writes files: os.mkdir os.makedirs os.chmod os.truncate os.symlink os.link os.write os.chdir
explores files: os.walk os.listdir os.scandir glob pathlib.Path.glob pathlib.Path.rglob
    explores files: pathlib.Path.iterdir
reaches for the grading files: sqlite3 nbgrader
uses the IPython kernel: IPython
""")
#: Under `MODULE_RULES`' names, but fine in an answer.
ALLOWED = ("IPython.display",)

#: The interpreter's internals: attributes no exercise needs.
DUNDERS = _words("""__class__ __subclasses__ __globals__ __code__ __dict__ __builtins__ __wrapped__
__closure__ __file__ __loader__ __spec__ __bases__ __base__ __mro__ __self__ __func__
__defaults__ __kwdefaults__ __getattribute__ __setattr__ __delattr__ __import__ __path__
__cached__ __reduce__ __reduce_ex__""")
#: Attribute names flagged on any object.
ATTRIBUTE_RULES = {
    **_table("""
reads the caller's frame: f_back f_locals f_globals f_builtins f_code gi_frame cr_frame ag_frame
    reads the caller's frame: tb_frame tb_next __traceback__
registers kernel hooks: input_transformers_cleanup input_transformers_post input_splitter
    registers kernel hooks: ast_transformers register_magic_function register_magics user_ns
    registers kernel hooks: user_global_ns user_ns_hidden
decodes hidden code: fromhex
writes files: write_text write_bytes touch unlink rmdir symlink_to hardlink_to chmod
explores files: rglob iterdir
"""),
    **{name: f"reaches into {name}" for name in DUNDERS},
}
#: Names no cell binds (builtins, IPython's), flagged when read.
FREE_RULES = _table("""
runs code from a string: exec eval compile
imports by name: __import__
reads the namespace: globals locals
touches builtins: __builtins__
uses the IPython kernel: get_ipython
exits the kernel: exit quit SystemExit
""")
#: IPython's history: ``In``, ``Out``, ``_ih``, ``_i3``, ``_3``... (``_`` too, unless the cell
#: assigns it itself, as ``for _ in range(n)`` does).
HISTORY = re.compile(r"^(In|Out|_ih|_oh|_dh|_ii?i?|__|___|_i?\d+)$")
#: Strings that name something flagged (``getattr(frame, "f_back")``).
STRING_RULES = {
    **{name: why for name, why in ATTRIBUTE_RULES.items() if name.startswith(("_", "f_"))},
    **_table("""
reads the caller's frame: tb_frame gi_frame _getframe inspect
touches builtins: builtins
decodes hidden code: rot13 rot_13 rot-13
"""),
}
#: A path outside the working folder: absolute, home, UNC or a drive.
OUTSIDE = re.compile(r"^(/[A-Za-z_.]|~[/\\]|\\\\|[A-Za-z]:[\\/])")
GRADING_FILES = re.compile(r"gradebook|sqlite|nbgrader|autograded|submitted/|\.db\b")
OPENERS = {"open", "builtins.open", "io.open", "os.open", "os.fdopen", "codecs.open"}

#: Magics harmless in an answer; of those, the ones whose argument or body is code to read.
HARMLESS_MAGICS = set(
    _words("""matplotlib time timeit prun capture pinfo pinfo2 precision who whos
pprint lsmagic magic pdef pdoc""")
)
CODE_MAGICS = {"time", "timeit", "prun", "capture"}
SHELL_MAGICS = set(
    _words("system sx sc bash sh script perl ruby python python2 python3 pypy alias !")
)

#: The names the locked test cells rely on (and every ``check_*``).
GRADING_NAMES = {"grading", "checks", "fresh", "mitdeeplearning", "GradingError"}
_GRADING = "mitdeeplearning.grading"


def rule_for(table: Mapping[str, str], name: str) -> str | None:
    """The reason `table` gives for the dotted `name` or its longest prefix in the table.

    Examples
    --------
    >>> rule_for(MODULE_RULES, "subprocess.run")
    'starts a process'
    >>> rule_for(MODULE_RULES, "numpy.asarray") is None
    True
    """
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        reason = table.get(".".join(parts[:end]))
        if reason:
            return reason
    return None


def is_grading_name(name: str) -> bool:
    return name in GRADING_NAMES or name.startswith("check_")


def canonical_binding(name: str, refs: set[Ref]) -> bool:
    """Whether binding the grading name `name` to `refs` leaves it what it was: ``grading``
    and ``checks`` the grading package (or ``grading.fresh()``), ``check_roc`` a check of
    it, and so on."""

    def fits(ref: Ref) -> bool:
        if name == "mitdeeplearning":
            return ref.name == "mitdeeplearning"
        if name in ("grading", "checks"):
            return ref.name == _GRADING
        if name == "fresh":
            return ref.name == f"{_GRADING}.fresh"
        return ref.name.startswith(_GRADING + ".") and ref.name.endswith("." + name)

    return bool(refs) and all(fits(ref) for ref in refs)


def refused_match(name: str, refused: str) -> bool:
    """Whether the dotted `name` is the refused one or reaches it through submodules
    (``sklearn.metrics._ranking.roc_curve`` is ``sklearn.metrics.roc_curve``), or is an
    attribute of it.

    Examples
    --------
    >>> refused_match("sklearn.metrics._ranking.roc_curve", "sklearn.metrics.roc_curve")
    True
    >>> refused_match("mitdeeplearning.xray.localisation.pointing_game",
    ...               "mitdeeplearning.xray.pointing_game")
    True
    >>> refused_match("sklearn.metrics.roc_auc_score", "sklearn.metrics.roc_curve")
    False
    """
    parts, wanted = name.split("."), refused.split(".")
    if parts[0] != wanted[0]:
        return False
    for end in range(len(wanted), len(parts) + 1):
        prefix = parts[:end]
        if prefix[-1] != wanted[-1]:
            continue
        it = iter(prefix)
        if all(part in it for part in wanted):  # `wanted` is a subsequence of `prefix`
            return True
    return False


def default_refusals() -> Mapping:
    """`mitdeeplearning.grading.REFUSALS`: what each check refuses (empty before it exists)."""
    try:
        from ..grading import REFUSALS
    except ImportError:
        return {}
    return REFUSALS


def refused_names(refusals: Mapping, checks: Iterable[str]) -> dict[str, str]:
    """Dotted name → name as declared, of what the `checks` (names such as ``"check_roc"``)
    refuse: their refusals' ``package`` names (short, under ``mitdeeplearning.``) and
    ``library`` names (full)."""
    refused: dict[str, str] = {}
    for check in checks:
        refusal = refusals.get(check)
        for short in getattr(refusal, "package", ()) or ():
            refused[canonical(f"mitdeeplearning.{short}")] = short
        for full in getattr(refusal, "library", ()) or ():
            refused[canonical(full)] = full
    return refused
