"""What a lab reports: its headline figures, and the files it makes, for `mitdl run`.

A notebook calls `record_metrics` with the figures it prints at the end (held-out loss, AUC,
seconds...). Run by hand, that only prints them. Run by ``mitdl run``, which sets
``MITDL_OUT`` (a folder) and ``MITDL_NOTEBOOK`` (the notebook's name), the figures are also
written to ``$MITDL_OUT/metrics-<notebook>.json`` and `output_dir` tells the notebook where to
save what it made (generated tunes, audio).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .files import atomic_write

OUT_VARIABLE = "MITDL_OUT"
NOTEBOOK_VARIABLE = "MITDL_NOTEBOOK"
#: Set to ``1`` (by the tests, CI, autograding and ``mitdl run --fast``), it shrinks training to
#: seconds while every cell still runs. The notebooks read it with `fast_mode` or ``os.environ``.
FAST_VARIABLE = "MITDL_FAST"


def fast_mode() -> bool:
    """True when ``$MITDL_FAST`` is set to ``1``: train for seconds, not minutes."""
    return os.environ.get(FAST_VARIABLE) == "1"


def output_dir() -> Path | None:
    """The folder `mitdl run` collects this run's files in, or None outside such a run."""
    value = os.environ.get(OUT_VARIABLE)
    if not value:
        return None
    path = Path(value)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _plain(value: Any) -> Any:
    """`value` as JSON-ready Python: NumPy and TensorFlow numbers become floats and ints."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int):
        return value
    numpy_method = getattr(value, "numpy", None)
    if callable(numpy_method):
        value = numpy_method()
    item = getattr(value, "item", None)
    if callable(item):
        value = item()
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    raise TypeError(f"metrics values must be numbers, strings or lists of them; got {value!r}.")


def record_metrics(metrics: Mapping[str, Any]) -> dict:
    """Print a lab's headline figures and, under `mitdl run`, save them.

    Parameters
    ----------
    metrics : mapping
        Name → number (or string, or list of them). NumPy and TensorFlow scalars are accepted.

    Returns
    -------
    dict
        The figures as plain Python values (NaN and infinities become None).

    Raises
    ------
    TypeError
        If a value is not a number, a string or a list of them.
    """
    if not isinstance(metrics, Mapping):
        raise TypeError(f"metrics must be a mapping of name → value, not {type(metrics).__name__}.")
    plain = _plain(metrics)
    print(plain)
    out = output_dir()
    if out is not None:
        name = os.environ.get(NOTEBOOK_VARIABLE) or "notebook"
        target = out / f"metrics-{name}.json"
        with atomic_write(target) as handle:  # a reader never sees half a file
            json.dump(plain, handle, indent=1)
    return plain
