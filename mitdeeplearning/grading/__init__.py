"""The checks behind the labs' graded cells.

Each check takes what the student wrote (a value, a function or a class), tries it on small
inputs and either prints one line starting with a check mark or raises `GradingError` (an
`AssertionError`, which nbgrader counts as a failed test) with one sentence that says what is
wrong and what was expected.

The package has one module per idea:

- `mitdeeplearning.grading.compare`: reading, running and comparing an answer without trusting
  it, and the verdicts (`GradingError`, a check mark);
- `mitdeeplearning.grading.lab1`: Lab 1's checks (TensorFlow basics, music generation);
- `mitdeeplearning.grading.lab2`: Lab 2's checks (pneumothorax, ROC, Class Activation Maps).

Every check is importable from here: ``grading.check_roc``.

The checks give the same verdict on any TensorFlow 2.16+, CPU or GPU: they set weights
explicitly instead of relying on a seed's initial values, and they test sampling by its
statistics. They do not trust what they are given: answers are converted to NumPy arrays of an
explicit dtype and shape before comparing, numbers are compared with plain Python arithmetic
(never with the answer's own ``__eq__`` or with ``numpy.testing``, which a notebook could
patch), and graded cells call the checks through `fresh()`, a copy of this whole package (this
module, `compare`, `lab1` and `lab2`) executed anew from its files, so patching
``mitdeeplearning.grading`` or any of its modules in the notebook changes nothing.

What an in-kernel check cannot prevent (code that rewrites the kernel itself) is covered by the
instructor's tools, which scan answer cells for tampering.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types

# Absolute: a copy made by `fresh` is a top-level package of its own, with no parent to be
# relative to. Everything inside this package is imported relatively, so that a copy imports
# its own modules, never the ones the notebook may have patched.
from mitdeeplearning._lazy import moved_names

from .compare import GradingError
from .lab1 import (
    check_dense_layer,
    check_get_batch,
    check_graph_function,
    check_identity_model,
    check_loss,
    check_minimum,
    check_model_output,
    check_sample,
    check_tensor,
    check_vectorise,
)
from .lab2 import (
    check_cams,
    check_class_weights,
    check_features_and_weights,
    check_pointing_game,
    check_predict,
    check_roc,
    check_upsample,
    check_weighted_loss,
)

__all__ = [
    "GradingError",
    "check_cams",
    "check_class_weights",
    "check_dense_layer",
    "check_features_and_weights",
    "check_get_batch",
    "check_graph_function",
    "check_identity_model",
    "check_loss",
    "check_minimum",
    "check_model_output",
    "check_pointing_game",
    "check_predict",
    "check_roc",
    "check_sample",
    "check_tensor",
    "check_upsample",
    "check_vectorise",
    "check_weighted_loss",
    "fresh",
]


def fresh() -> types.ModuleType:
    """A new copy of this package, every module of it executed anew from its file.

    Graded cells call ``grading.fresh().check_...``: whatever a notebook did to the imported
    package or to any of its modules (replacing a check, or a helper, with one that always
    passes), the copy is untouched. The copy is registered in `sys.modules` under a random name
    only while it is executed (its relative imports need it), so no later import can reach it.

    Returns
    -------
    module
        The copy, with the same public names as ``mitdeeplearning.grading``, and its own
        ``compare``, ``lab1`` and ``lab2`` modules.

    Examples
    --------
    >>> checks = fresh()
    >>> checks.check_minimum([0.0, 2.0, 3.5, 3.999], target=4.0)
    ✓ gradient descent converged to x = 3.9990 (minimum at 4.0)
    >>> checks.lab1 is fresh().lab1
    False
    """
    package_dir = os.path.dirname(os.path.abspath(__file__))
    name = f"mitdeeplearning_grading_copy_{os.urandom(8).hex()}"
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(package_dir, "__init__.py"), submodule_search_locations=[package_dir]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        for key in [key for key in sys.modules if key == name or key.startswith(f"{name}.")]:
            del sys.modules[key]
    return module


#: Old public names still work. Only the package as imported warns (once): graded cells use
#: `fresh` copies, and nbgrader gives no points to a cell that writes to stderr, where the
#: warning would go, so a copy resolves the old name silently and a course whose locked test
#: cells still use it grades as before.
__getattr__ = moved_names(
    __name__,
    {"check_vectorize": "check_vectorise"},
    globals(),
    warn=__name__ == "mitdeeplearning.grading",
)
