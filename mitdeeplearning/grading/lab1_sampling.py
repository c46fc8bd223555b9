"""Lab 1's check of the sampling step that writes the student's tunes.

``music.generate(model, vocab, sampling_step=sampling_step)`` calls the student's step once per
character, for a whole batch of tunes, inside its compiled loop (`music.sampling_step` has the
contract). `check_sampling_step` calls it the same way, inside ``tf.function``, with a model
step of its own whose logits depend on the token read and whose state counts the steps, and
judges it by what it returns: the tokens' frequencies, the seeds, the state, and where tunes end.

TensorFlow is imported when the check runs. It says next to it what its exercise refuses
(`refuses`), runs the answer through `graded_answer`, and computes what it expects only after
the answer's output has been read.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .compare import fail, flat_values, frequency_mismatch, graded_answer, passed
from .lab1_model import close_to
from .refusals import refuses

# Captured at import: a notebook that patches numpy afterwards does not change them.
_asarray = np.asarray
_float64 = np.float64
_int64 = np.int64

__all__ = ["check_sampling_step"]

#: The check's vocabulary: five tokens, the last the newline. Row k holds the logits of the
#: token after token k; token 2 never follows token 0 or 1 (a nucleus cut it off).
_NEWLINE = 4
_LOGITS = [
    [2.0, 1.0, -float("inf"), -1.0, 0.5],
    [0.0, 1.5, -float("inf"), 0.5, 1.0],
    [1.0, 1.0, 1.0, 1.0, 1.0],
    [1.0, 1.0, 1.0, 1.0, 1.0],
    [0.5, 0.0, 0.0, 0.0, 1.5],
]


class _Runner:
    """The student's step run as `music.generate` runs it: compiled once with a model step of
    the check's, each call's output read back as NumPy arrays."""

    def __init__(self, answer) -> None:
        import tensorflow as tf

        table = tf.constant(_LOGITS, tf.float32)

        @tf.autograph.experimental.do_not_convert  # no source to read in a `fresh` copy
        def model_step(token, state):  # logits by token; the state counts the steps
            return tf.gather(table, token), [state[0] + 1.0, state[1] * 0.5 + 2.0]

        self.model_step, self.answer, self.tf = model_step, answer, tf

    def __call__(self, tokens, done, seed, temperature=1.0):
        """``(next tokens, state (two arrays), done)`` for a batch of last `tokens`."""
        tf, n = self.tf, len(tokens)
        state = [tf.zeros((n, 2)), tf.ones((n, 3))]
        args = (self.model_step, tf.constant(tokens, tf.int32), state, tf.constant(done, tf.bool),
                tf.constant(seed, tf.int64), tf.constant(temperature, tf.float32),
                tf.constant(_NEWLINE, tf.int32))  # fmt: skip
        why = "music.generate compiles it"  # traced once, on the first call
        result = self.answer.in_graph(self.answer.function, "sampling_step", why, *args)
        if not isinstance(result, tuple | list) or len(result) != 3:
            fail("sampling_step should return three things: (next_token, state, done).")
        tokens_out = self.answer.array(result[0], "next_token", dtype=_int64).reshape(-1)
        if tokens_out.shape != (n,):
            fail(f"next_token should hold one token per tune ({n}), not {tokens_out.size}.")
        new_state = result[1] if isinstance(result[1], tuple | list) else [result[1]]
        state_out = [self.answer.array(s, "the state") for s in new_state]
        done_out = self.answer.array(result[2], "done", dtype=bool).reshape(-1)
        if done_out.shape != (n,):
            fail(f"done should hold one flag per tune ({n}), not {done_out.size}.")
        return tokens_out, state_out, done_out


def _check_frequencies(tokens: np.ndarray, last: np.ndarray, temperature: float) -> None:
    """The tokens drawn after each token of `last` come as softmax(logits / temperature) says."""
    values = flat_values(tokens)
    if min(values) < 0 or max(values) >= len(_LOGITS):
        fail("sampling_step returned tokens outside the vocabulary.")
    for token in sorted(set(flat_values(last))):
        drawn = [v for v, t in zip(values, flat_values(last), strict=True) if t == token]
        logits = _asarray(_LOGITS[token], dtype=_float64)
        mismatch = frequency_mismatch(
            drawn, logits, temperature, 0.05, f"the tokens after token {token}"
        )
        if mismatch is not None:
            fail(mismatch)


def _check_state(state: list, n: int) -> None:
    """The state returned is model_step's new one (the check's counts the steps)."""
    if len(state) != 2:
        fail(f"sampling_step should return the new state model_step gave (a list of 2 tensors), "
             f"not {len(state)}.")  # fmt: skip
    before = [np.zeros((n, 2)), np.ones((n, 3))]
    after = [before[0] + 1.0, before[1] * 0.5 + 2.0]
    if all(close_to(s, b) for s, b in zip(state, before, strict=True)):
        fail("sampling_step returned the state it was given: return the new state that "
             "model_step gives, which carries the model to the next token.")  # fmt: skip
    if not all(close_to(s, a) for s, a in zip(state, after, strict=True)):
        fail("The state returned should be the new state that model_step gave, unchanged.")


def _check_done(last: np.ndarray, done_in: np.ndarray, tokens: np.ndarray, done: np.ndarray):
    """Ended tunes write newlines and stay done; a blank line, and only that, ends a tune."""
    n = _NEWLINE
    rows = zip(flat_values(last), flat_values(done_in), flat_values(tokens), flat_values(done),
               strict=True)  # fmt: skip
    for token, ended, new, now in rows:
        if ended and new != n:
            fail("A tune that has ended should keep writing newline.")
        if ended and not now:
            fail("`done` never goes back to False: a tune that has ended stays done.")
        if not ended and token == n and new == n and not now:
            fail("A blank line ends a tune: when the last token and the new one are both "
                 "newline, its done should become True.")  # fmt: skip
        if not ended and now and not (token == n and new == n):
            fail("A single newline does not end a tune: only a blank line does (the last token "
                 "and the new one both newline).")  # fmt: skip


# The exercise asks for tf.random.stateless_categorical: that stays allowed. The package's own
# step, and generate (which runs it), refuse.
@refuses(package=("music.sampling_step", "music.generate"))
def check_sampling_step(sampling_step: Callable, draws: int = 6000) -> None:
    """`sampling_step(model_step, token, state, done, seed, temperature, newline)` returns
    ``(next_token, state, done)`` as `music.sampling_step` does, run inside ``tf.function``.

    Checked with a model step of the check's (its logits depend on the token read, its state
    counts the steps): the tokens come as ``softmax(logits / temperature)`` says; the same seed
    draws the same tokens and another seed others; the state returned is the model step's new
    one; a tune that has ended writes newlines and stays done; a blank line ends a tune, a
    single newline does not.

    Parameters
    ----------
    sampling_step : callable
        The student's step (see `mitdeeplearning.music.sampling.sampling_step`).
    draws : int, default 6000
        Tunes in the batch each call samples.

    Examples
    --------
    A step that draws with a random seed of its own:

    >>> def unseeded(model_step, token, state, done, seed, temperature, newline):  # doctest: +SKIP
    ...     logits, state = model_step(token, state)
    ...     next_token = tf.random.categorical(logits / temperature, 1, dtype=tf.int32)[:, 0]
    ...     next_token = tf.where(done, newline, next_token)
    ...     return next_token, state, done | ((token == newline) & (next_token == newline))
    >>> check_sampling_step(unseeded)                                     # doctest: +SKIP
    Traceback (most recent call last):
    mitdeeplearning.grading.GradingError: The same seed gave other tokens: draw with \
tf.random.stateless_categorical and the seed given.
    """
    answer = graded_answer(sampling_step, "sampling_step", "check_sampling_step")
    run = _Runner(answer)
    half = draws // 2
    last = np.array([0] * half + [1] * (draws - half), "int32")  # never a newline before
    awake = np.zeros(draws, bool)
    for temperature in (1.0, 0.5, 2.0):
        tokens, state, done = run(last, awake, [11, 0], temperature)
        _check_frequencies(tokens, last, temperature)
        _check_state(state, draws)
        _check_done(last, awake, tokens, done)
    first = run(last, awake, [11, 0])[0]
    if flat_values(run(last, awake, [11, 0])[0]) != flat_values(first):
        fail("The same seed gave other tokens: draw with tf.random.stateless_categorical and "
             "the seed given.")  # fmt: skip
    for other in ([11, 1], [12, 0]):  # the loop changes the seed's second number at each step
        if flat_values(run(last, awake, other)[0]) == flat_values(first):
            fail(f"The seeds [11, 0] and {other} gave the same tokens: draw with "
                 "tf.random.stateless_categorical and the seed given.")  # fmt: skip
    # A third of the tunes have ended; a third last wrote a newline; a third a note.
    third = draws // 3
    last = np.array([3] * third + [_NEWLINE] * third + [1] * (draws - 2 * third), "int32")
    ended = np.arange(draws) < third
    tokens, _, done = run(last, ended, [5, 3])
    _check_done(last, ended, tokens, done)
    passed("sampling_step samples from softmax(logits / temperature) with the seed given, "
           "carries the state and ends tunes at a blank line")  # fmt: skip
