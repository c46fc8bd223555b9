"""The checks behind the labs' graded cells.

Each check takes what the student wrote (a value, a function or a class), tries it on small
inputs and either prints one line starting with a check mark or raises `GradingError` (an
`AssertionError`, which nbgrader counts as a failed test) with one sentence that says what is
wrong and what was expected.

The package has one module per idea:

- `mitdeeplearning.grading.compare`: reading, running and comparing an answer without trusting
  it, and the verdicts (`GradingError`, a check mark), with the plain-Python arithmetic and
  reference maths of `mitdeeplearning.grading.arithmetic`;
- `mitdeeplearning.grading.tracing`: running an answer inside ``tf.function`` with nothing on
  stderr, and the sentence for an answer that cannot run there;
- `mitdeeplearning.grading.integrity`: what the checks rely on (builtins, NumPy, the guard,
  this package's text), recorded at first import and verified by every check;
- `mitdeeplearning.grading.refusals`: what each exercise refuses to let an answer delegate to
  (`REFUSALS`, keyed by check name), and `mitdeeplearning.grading.delegation`, which finds such
  a delegation in an answer's code before it runs;
- `mitdeeplearning.grading.lab1`: Lab 1's checks (music generation, and TensorFlow basics from
  `mitdeeplearning.grading.basics`, re-exported);
- `mitdeeplearning.grading.lab1_model`, `mitdeeplearning.grading.lab1_training` and
  `mitdeeplearning.grading.lab1_sampling`: Lab 1's checks of the pieces that make the music
  (one LSTM step, the model, the training step, the accuracy, the sampling step);
- `mitdeeplearning.grading.lab2`: Lab 2's checks of the classifier (class weights, the
  weighted loss, predictions, the ROC curve and its thresholds), `mitdeeplearning.grading.cams`
  its checks of Class Activation Maps and the pointing game,
  `mitdeeplearning.grading.lab2_probability` its checks of what a probability means (odds at
  another prevalence, the positive predictive value) and
  `mitdeeplearning.grading.lab2_faithfulness` its check of the core of a deletion curve.

Every check is importable from here: ``grading.check_roc``.

The checks give the same verdict on any TensorFlow 2.16+, CPU or GPU: they set weights
explicitly instead of relying on a seed's initial values, and they test sampling by its
statistics. They do not trust what they are given: answers are converted to NumPy arrays of an
explicit dtype and shape before comparing, numbers are compared with plain Python arithmetic
(never with the answer's own ``__eq__`` or with ``numpy.testing``, which a notebook could
patch), and graded cells call the checks through `fresh()`, a copy of this whole package
executed anew from the text its files had when it was first imported, so patching
``mitdeeplearning.grading`` or any of its modules in the notebook, or its files on disk,
changes nothing. An answer that only calls the package's or a library's implementation of its
exercise fails (`REFUSALS`, `mitdeeplearning.guard`), and an answer that replaces what the checks
use (a builtin, a NumPy function) fails with a sentence that says what was replaced.

What an in-kernel check cannot prevent (code that rewrites the kernel itself) is covered by the
instructor's tools, which scan answer cells for tampering.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
import types

# Absolute: a copy made by `fresh` is a top-level package of its own, with no parent to be
# relative to. Everything inside this package is imported relatively, so that a copy imports
# its own modules, never the ones the notebook may have patched.
from mitdeeplearning._lazy import moved_names

from . import (
    arithmetic,
    basics,
    cams,
    compare,
    delegation,
    integrity,
    lab1,
    lab1_model,
    lab1_sampling,
    lab1_training,
    lab2,
    lab2_faithfulness,
    lab2_probability,
    refusals,
    tracing,
)
from .cams import check_cams, check_features_and_weights, check_pointing_game, check_upsample
from .compare import GradingError
from .lab1 import (
    check_dense_layer,
    check_get_batch,
    check_gradient_descent,
    check_graph_function,
    check_identity_model,
    check_loss,
    check_minimum,
    check_model_output,
    check_sample,
    check_tensor,
    check_vectorise,
)
from .lab1_model import check_build_model, check_lstm_step
from .lab1_sampling import check_sampling_step
from .lab1_training import check_accuracy, check_train_step
from .lab2 import check_class_weights, check_predict, check_roc, check_weighted_loss
from .lab2_faithfulness import check_deletion_scores
from .lab2_probability import check_ppv, check_shift_prevalence
from .refusals import REFUSALS, Refusal

__all__ = [
    "REFUSALS",
    "GradingError",
    "Refusal",
    "check_accuracy",
    "check_build_model",
    "check_cams",
    "check_class_weights",
    "check_deletion_scores",
    "check_dense_layer",
    "check_features_and_weights",
    "check_get_batch",
    "check_gradient_descent",
    "check_graph_function",
    "check_identity_model",
    "check_loss",
    "check_lstm_step",
    "check_minimum",
    "check_model_output",
    "check_pointing_game",
    "check_ppv",
    "check_predict",
    "check_roc",
    "check_sample",
    "check_sampling_step",
    "check_shift_prevalence",
    "check_tensor",
    "check_train_step",
    "check_upsample",
    "check_vectorise",
    "check_weighted_loss",
    "fresh",
]


class _CopyLoader(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds and loads the modules of one copy (``<name>``, ``<name>.lab2``...) from the text
    recorded in the snapshot, never from the files, and hands the copy the snapshot."""

    def __init__(self, name: str, snapshot: integrity.Snapshot) -> None:
        self.name, self.snapshot = name, snapshot

    def _key(self, fullname: str) -> str | None:
        if fullname == self.name:
            return "__init__"
        if fullname.startswith(f"{self.name}.") and fullname.count(".") == 1:
            return fullname.rpartition(".")[2]
        return None

    def find_spec(self, fullname, path=None, target=None):
        key = self._key(fullname)
        if key is None or key not in self.snapshot.sources:
            return None
        spec = importlib.util.spec_from_loader(fullname, self, is_package=key == "__init__")
        spec.origin = os.path.join(self.snapshot.folder, f"{key}.py")
        spec.has_location = True
        return spec

    def create_module(self, spec):
        return None  # the default module

    def exec_module(self, module) -> None:
        key = self._key(module.__name__)
        filename = os.path.join(self.snapshot.folder, f"{key}.py")
        module.__file__ = filename
        if key == "integrity":
            module.INHERITED_SNAPSHOT = self.snapshot  # taken up (and removed) by the module
        exec(compile(self.snapshot.sources[key], filename, "exec"), vars(module))


def _copier(snapshot: integrity.Snapshot, loader_class: type = _CopyLoader):
    """`fresh`, bound to the snapshot taken when this package was first imported and to the
    loader (held in its closure, where no patch of the package's modules reaches them)."""

    def fresh() -> types.ModuleType:
        """A new copy of this package, every module of it executed anew.

        Graded cells call ``grading.fresh().check_...``: whatever a notebook did to the
        imported package or to any of its modules (replacing a check, or a helper, with one
        that always passes), the copy is untouched. It is executed from the text the package's
        files had when ``mitdeeplearning.grading`` was first imported (the notebooks' set-up
        cells import it), so replacing a file on disk afterwards changes nothing either. The
        copy is registered in `sys.modules` under a random name only while it is executed (its
        relative imports need it), so no later import can reach it.

        Returns
        -------
        module
            The copy, with the same public names as ``mitdeeplearning.grading``, and its own
            ``compare``, ``lab1``, ``lab2`` (and other) modules.

        Examples
        --------
        >>> checks = fresh()
        >>> checks.check_minimum([0.0, 2.0, 3.5, 3.999], target=4.0)
        ✓ gradient descent converged to x = 3.9990 (minimum at 4.0)
        >>> checks.lab1 is fresh().lab1
        False
        """
        name = f"mitdeeplearning_grading_copy_{os.urandom(8).hex()}"
        loader = loader_class(name, snapshot)
        sys.meta_path.insert(0, loader)
        try:
            return importlib.import_module(name)
        finally:
            sys.meta_path.remove(loader)
            for key in [key for key in sys.modules if key == name or key.startswith(f"{name}.")]:
                del sys.modules[key]

    return fresh


fresh = _copier(integrity.SNAPSHOT)
integrity.record_baseline(
    [sys.modules[__name__], basics, cams, compare, delegation, integrity, lab1, lab2, refusals]
    + [lab2_faithfulness, lab2_probability]
    + [arithmetic, lab1_model, lab1_sampling, lab1_training, tracing]
)


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
