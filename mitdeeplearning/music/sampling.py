"""Sampling new tunes from a trained model, many at once, in one compiled loop.

The reference lab called the whole Keras model once per character, eagerly. Here the model's
own layers are stepped inside a `tf.function` (`mitdeeplearning.music.sampling_loop`): each step
embeds the last token, advances the recurrent cells (carrying their state) and hands the logits
to `sampling_step`, which samples the next token with a temperature, for a whole batch of tunes;
the loop stops when every tune has ended (a blank line, which in ABC closes a tune) or reached
`max_length`. `sampling_step` is the piece a student can write: ``generate(...,
sampling_step=yours)`` samples with theirs.

With ``fit_bars=True`` (the default for ABC text) the model is stepped one character at a time
for the whole batch from Python instead, so that a bar that cannot fit the meter can be drawn
again (`mitdeeplearning.music.bar_sampling`): the model still proposes every note.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from ..guard import refuse_during_grading
from .abc import FIELD_LINE_PATTERN
from .bar_sampling import BAR_REDRAWS, sample_fitting_bars
from .sampling_loop import build_sampler, build_step, call_compiled, nucleus
from .vocab import TUNE_SEPARATOR, Vocab

__all__ = ["TEMPERATURE", "TOP_P", "TUNE_END", "GeneratedTunes", "generate", "nucleus",
           "sampling_step"]  # fmt: skip

#: The default temperature and nucleus, the lab's (`LAB_CONFIG`): a moderate temperature, and
#: the unlikely tail cut off (benchmarks/RESULTS.md has the settings tried and their figures).
TEMPERATURE = 0.5
TOP_P = 0.9
#: How most ABC tunes end (a closing repeat: 745 of O'Neill's 2,008; "||" 824, "|]" 434).
TUNE_END = ":|"

# Kept outside the model: an attribute set on a Keras model is tracked as part of it.
_SAMPLERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def sampling_step(model_step, token, state, done, seed, temperature, newline):
    r"""One step of sampling for a batch of tunes: the model reads each tune's last token, and
    the next token is drawn from ``softmax(logits / temperature)``.

    The piece of `generate` a student writes: ``generate(..., sampling_step=yours)`` calls
    theirs instead, once per token, inside its compiled loop (a `tf.function`), so it must use
    TensorFlow operations. The loop feeds each tune its given start itself.

    Parameters
    ----------
    model_step : callable
        ``model_step(token, state) -> (logits, new_state)``: the model reads `token` from
        `state` and gives the next token's logits, ``(batch, vocab)`` float32, and its new
        state. With nucleus sampling (``top_p``) the tokens outside the nucleus already have
        logits of -inf.
    token : tf.Tensor
        Each tune's last token, ``(batch,)`` int32.
    state : list of tf.Tensor
        The model's state, ``(batch, units)`` float32 tensors: two per LSTM layer, one per GRU.
    done : tf.Tensor
        ``(batch,)`` bool: the tunes that have ended.
    seed : tf.Tensor
        ``(2,)`` int64: this step's seed for ``tf.random.stateless_categorical``. The same seed
        draws the same tokens, so generation is reproducible.
    temperature : tf.Tensor
        float32, above 0: divides the logits before sampling.
    newline : tf.Tensor
        int32, the id of ``"\n"`` (-1 when tunes do not end at a blank line).

    Returns
    -------
    next_token : tf.Tensor
        ``(batch,)`` int32, `newline` for a tune that has ended.
    state : list of tf.Tensor
        The new state, from `model_step`.
    done : tf.Tensor
        ``(batch,)`` bool: `done`, and the tunes that just wrote a blank line (their last token
        and the new one both `newline`). It never goes back to False.

    Examples
    --------
    Three tokens, 0 the newline; after 0 or 1 the model always writes 0, after 2 always 1:

    >>> import tensorflow as tf
    >>> table = tf.math.log(tf.constant([[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0]]))
    >>> def model_step(token, state):
    ...     return tf.gather(table, token), [s + 1.0 for s in state]  # the state counts steps
    >>> last = tf.constant([1, 0, 2, 2])  # each tune's last token
    >>> ended = tf.constant([False, False, False, True])
    >>> token, state, done = sampling_step(
    ...     model_step, last, [tf.zeros((4, 2))], ended, seed=tf.constant([7, 0], tf.int64),
    ...     temperature=tf.constant(1.0), newline=tf.constant(0))
    >>> token.numpy()  # a newline, a second newline, a note, and the ended tune's newline
    array([0, 0, 1, 0], dtype=int32)
    >>> done.numpy()  # the second tune wrote a blank line: it has ended
    array([False,  True, False,  True])
    >>> state[0].numpy()[:, 0]  # model_step's new state
    array([1., 1., 1., 1.], dtype=float32)
    """
    refuse_during_grading("music.sampling_step")
    logits, state = model_step(token, state)  # (batch, vocab), and the state after `token`
    sampled = tf.random.stateless_categorical(logits / temperature, 1, seed=seed,
                                              dtype=tf.int32)[:, 0]  # fmt: skip
    sampled = tf.where(done, newline, sampled)  # an ended tune keeps writing newline
    done = done | ((token == newline) & (sampled == newline))
    return sampled, state, done


def generate(
    model,
    vocab: Vocab,
    *,
    start: str | list = "X:",
    num_tunes: int = 1,
    max_length: int = 2000,
    temperature: float = TEMPERATURE,
    top_p: float | None = TOP_P,
    headers: str | Sequence[str] | None = None,
    seed: int | None = None,
    stop: str | list | None = TUNE_SEPARATOR,
    primer: str | list | None = None,
    fit_bars: bool = True,
    bar_redraws: int = BAR_REDRAWS,
    sampling_step: Callable | None = None,
) -> GeneratedTunes:
    r"""Sample `num_tunes` new tunes (in parallel) from a model made by `build_model`.

    Parameters
    ----------
    model : keras.Model
        A trained model (stateless or stateful: its weights are what matter).
    vocab : Vocab
        The vocabulary it was trained with.
    start : str or list of tokens
        How every tune begins; ABC tunes begin with ``"X:"``.
    num_tunes : int
        How many tunes to generate at once.
    max_length : int
        The most tokens a tune may have, `start` (and `headers`) included.
    temperature : float
        Divides the logits before sampling: below 1 sharper and safer, above 1 more adventurous;
        0 always picks the most likely token.
    top_p : float, optional
        Nucleus sampling: draw only among the most likely tokens that together hold `top_p` of
        the probability (after the temperature), in ``(0, 1]``; None or 1 draws from all. It
        cuts off the unlikely tail where most slips come from, without flattening the choice
        among good tokens as a low temperature does.
    headers : str or list of str, optional
        Header lines written into each tune after the model's own ``X:`` and ``T:`` lines (the
        number and the title), for ABC text: ``"M: 6/8\nL: 1/8\nK:G"``, the same for every tune,
        or one header per tune, e.g. drawn from the training tunes with
        `mitdeeplearning.music.headers.draw_headers`. Each holds only field lines (``M:``,
        ``L:``, ``Q:``, ``P:``, ``K:``) and ends with its ``K:`` line. None lets the model write
        its own headers.
    seed : int, optional
        The same seed, model and arguments give the same tunes.
    stop : str or list, optional
        The token sequence (one or two tokens) that ends a tune and is not returned: a blank
        line for ABC. None generates `max_length` tokens.
    primer : str or list, optional
        Read (not returned) before `start`, to put the model in the state a tune begins from.
        In training a tune always follows the end of the one before, so by default the model
        first reads the end of a tune: a closing repeat and a blank line (``":|\n\n"``) for
        ABC, `stop` alone for other tokens. From a zero state, or after a bare blank line, a
        model unsure which header comes next may write ``X: 1/8`` (an ``L:`` value) and skip
        the meter (measured: 19 of 400 tunes at temperature 0.3, against 1 of 400 after
        ``":|\n\n"``).
    fit_bars : bool, default True
        Count the beats as a musician does: each time a tune closes a bar, measure it (as
        `check_tune` does) and, when it cannot fit the meter, put the tune back where the bar
        began and let the model write the bar again (`mitdeeplearning.music.bar_sampling`).
        The model still proposes every note; only a wrong bar is refused. For ABC text at a
        temperature above 0 (a redraw at temperature 0 would write the same bar); ignored
        otherwise. False samples as the model alone would.
    bar_redraws : int, default 4
        With `fit_bars`, how many times one bar may be drawn again before the last try is kept.
    sampling_step : callable, optional
        Your own sampling step, used instead of the package's `sampling_step` (see it for the
        contract) at every temperature above 0, with or without `fit_bars`; it runs inside a
        `tf.function`. The loop still feeds each tune its given start, and stops at
        `max_length`.

    Returns
    -------
    GeneratedTunes
        A list of `num_tunes` strings for a character vocabulary, lists of tokens otherwise;
        its ``bars_redrawn`` holds how many bars each tune drew again (zeros without
        `fit_bars`).

    Raises
    ------
    ValueError
        An argument out of range (the message names it), a `start`, `primer` or header with
        tokens outside the vocabulary, `headers` that are not ABC header lines, a model that
        cannot be stepped (not an Embedding, LSTM or GRU layers and Dense layers giving
        logits), or your `sampling_step` failing inside the loop (`SamplingStepError`, which
        names the cause).
    """
    refuse_during_grading("music.generate")
    if sampling_step is not None and not callable(sampling_step):
        raise ValueError(
            f"sampling_step={sampling_step!r} must be a function sampling_step(model_step, "
            "token, state, done, seed, temperature, newline), or None for the package's."
        )
    if isinstance(num_tunes, bool) or not isinstance(num_tunes, int) or num_tunes < 1:
        raise ValueError(f"num_tunes={num_tunes!r} must be a whole number, at least 1.")
    if not temperature >= 0:
        raise ValueError(f"temperature={temperature} must be >= 0.")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p={top_p} must be in (0, 1], or None to draw from every token.")
    if not isinstance(fit_bars, bool):
        raise ValueError(f"fit_bars={fit_bars!r} must be True or False.")
    if isinstance(bar_redraws, bool) or not isinstance(bar_redraws, int) or bar_redraws < 0:
        raise ValueError(f"bar_redraws={bar_redraws!r} must be a whole number, at least 0.")
    header_list = _checked_headers(headers, num_tunes, vocab)
    prefix = vocab.encode(start)  # raises a clear error for characters outside the vocabulary
    if len(prefix) == 0:
        raise ValueError("start must hold at least one token.")
    if max_length <= len(prefix):
        raise ValueError(f"max_length={max_length} leaves no room after start ({len(prefix)}).")
    stop_ids = vocab.encode(stop) if stop else np.zeros(0, np.int32)
    if len(stop_ids) > 2:
        raise ValueError("stop may be one or two tokens long.")
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    # In training, a tune always follows the end of the one before it: reading that end first
    # puts the model in the state it learned tunes begin from (a zero state is one it rarely
    # saw, and from it the model is unsure which header comes next).
    if primer is not None:
        primer_ids = vocab.encode(primer)
    elif vocab.is_text and stop == TUNE_SEPARATOR and all(c in vocab for c in TUNE_END):
        primer_ids = vocab.encode(TUNE_END + TUNE_SEPARATOR)
    else:
        primer_ids = stop_ids
    redraws = bar_redraws if fit_bars and vocab.is_text and temperature > 0 else None
    sample = _Sampling(model, vocab, primer_ids, stop_ids, temperature, top_p or 1.0, redraws,
                       sampling_step)  # fmt: skip
    if header_list is None:
        return sample([prefix] * num_tunes, max_length, seed, len(prefix))
    # The model writes each tune's number and title, then reads the header it is given.
    titles = sample([prefix] * num_tunes, _TITLE_LENGTH, seed, len(prefix), stop=_TITLE_END,
                    cut=False, fit_bars=False)  # fmt: skip
    starts = [_title_lines(title, start) + header + "\n" for title, header in
              zip(titles, header_list, strict=True)]  # fmt: skip
    longest = max(map(len, starts))
    if max_length <= longest:
        raise ValueError(f"max_length={max_length} leaves no room after the headers ({longest}).")
    return sample([vocab.encode(s) for s in starts], max_length, seed + 1, longest)


#: Steps the model has to write a tune's number and title (before `headers` are read), and
#: where its title lines end: at the line that starts the meter, ``M:``.
_TITLE_LENGTH = 120
_TITLE_END = "\nM"


class GeneratedTunes(list):
    """The tunes `generate` wrote (a plain list of them), with how many bars each drew again.

    Attributes
    ----------
    bars_redrawn : list of int
        One count per tune: bars that could not fit the meter and were drawn again
        (``fit_bars=True``); zeros when bars were not counted.
    """

    def __init__(self, tunes, bars_redrawn=None):
        super().__init__(tunes)
        self.bars_redrawn = list(bars_redrawn) if bars_redrawn is not None else [0] * len(self)


class _Sampling:
    """One model's compiled sampler with the arguments that stay the same for every call;
    `redraws` None samples without counting bars."""

    def __init__(self, model, vocab, primer_ids, stop_ids, temperature, top_p, redraws, step):
        self.step = step or sampling_step
        self.yours = step is not None and step is not sampling_step
        # One compiled sampler per model and sampling step, traced once.
        self.compiled = _SAMPLERS.setdefault(model, {})
        self.model, self.vocab, self.primer_ids, self.stop_ids = model, vocab, primer_ids, stop_ids
        self.temperature, self.top_p, self.redraws = temperature, top_p, redraws

    def _compiled(self, kind: str):
        """The model's compiled loop (``"loop"``) or single step (``"step"``) for this step."""
        key = (kind, self.step)
        if key not in self.compiled:
            build = build_sampler if kind == "loop" else build_step
            self.compiled[key] = build(self.model, self.step)
        return self.compiled[key]

    def __call__(self, prefixes, max_length, seed, skip, stop=None, cut=True, fit_bars=True):
        """Tunes that start with each of `prefixes` (id arrays), up to `max_length` tokens; with
        ``cut=False``, the text as sampled, the stop and what follows it included."""
        stop_ids = self.stop_ids if stop is None else self.vocab.encode(stop)
        rows = [np.concatenate([self.primer_ids, p]).astype(np.int32) for p in prefixes]
        total = max_length + len(self.primer_ids)
        if fit_bars and self.redraws is not None:
            sequences, redrawn = self._fitting_bars(rows, total, seed, stop_ids)
        else:
            sequences, redrawn = self._compiled_loop(rows, total, seed, stop_ids), None
        stop_text = self.vocab.decode(stop_ids)
        tunes = []
        for sequence in sequences:
            tokens = self.vocab.decode(sequence[len(self.primer_ids) :])
            if self.vocab.is_text and not cut:
                tunes.append(tokens)
            elif self.vocab.is_text:
                text = tokens if not stop_text else tokens.split(stop_text, 1)[0]
                tunes.append(text.rstrip() + "\n")
            else:
                tunes.append(_cut_at(tokens, list(stop_text), skip))
        return GeneratedTunes(tunes, redrawn)

    def _compiled_loop(self, rows, total, seed, stop_ids) -> list:
        """Each row's ids, the row included, from the sampler compiled as one loop."""
        lengths = np.array([len(r) for r in rows], np.int32)
        padded = np.zeros((len(rows), lengths.max()), np.int32)
        for i, row in enumerate(rows):
            padded[i, : len(row)] = row
        ids = call_compiled(
            self._compiled("loop"),
            tf.constant(padded),
            tf.constant(lengths),
            tf.constant(total - 1, tf.int32),
            tf.constant(self.temperature, tf.float32),
            tf.constant(self.top_p, tf.float32),
            tf.constant(seed % 2**63, tf.int64),
            tf.constant(stop_ids, tf.int32),
            yours=self.yours,
        ).numpy()
        return [np.concatenate([first, row]) for first, row in zip(padded[:, :1], ids, strict=True)]

    def _fitting_bars(self, rows, total, seed, stop_ids):
        """Each row's ids and its bars redrawn, stepping the batch from Python (`fit_bars`)."""
        step_fn, sizes = self._compiled("step")
        temperature = tf.constant(self.temperature, tf.float32)
        top_p = tf.constant(self.top_p, tf.float32)
        blank = len(stop_ids) == 2 and stop_ids[0] == stop_ids[1]
        newline = tf.constant(stop_ids[-1] if blank else -1, tf.int32)
        seed = seed % 2**63

        def step(tokens, states, t):
            sampled, new = call_compiled(step_fn, tokens, states, temperature, top_p,
                                         tf.constant([seed, t], tf.int64), newline,
                                         yours=self.yours)  # fmt: skip
            return sampled.numpy(), [s.numpy() for s in new]

        zeros = [np.zeros((len(rows), size), np.float32) for size in sizes]
        return sample_fitting_bars(
            step, zeros, self.vocab, rows, total_length=total, skip=len(self.primer_ids),
            stop_ids=np.asarray(stop_ids), redraws=self.redraws,
        )  # fmt: skip


def _checked_headers(headers, num_tunes: int, vocab: Vocab) -> list[str] | None:
    """`headers` as one header per tune, each checked to be ABC header lines ending in ``K:``."""
    if headers is None:
        return None
    if not vocab.is_text:
        raise ValueError("headers= writes ABC header lines: it needs a character vocabulary.")
    if isinstance(headers, str):
        headers = [headers] * num_tunes
    headers = list(headers)
    if len(headers) != num_tunes:
        raise ValueError(
            f"headers has {len(headers)} entries for num_tunes={num_tunes}: give one header per "
            "tune, or one string for all of them."
        )
    for i, header in enumerate(headers):
        lines = header.strip("\n").split("\n") if isinstance(header, str) else [""]
        if not all(FIELD_LINE_PATTERN.match(line) for line in lines) or lines[-1][:2] != "K:":
            raise ValueError(
                f"headers[{i}]={header!r} is not an ABC header: expected field lines such as "
                "'M: 6/8\\nL: 1/8\\nK:G', ending with the K: line."
            )
        vocab.encode(header)  # a clear error for characters the model never saw
    return [header.strip("\n") for header in headers]


def _title_lines(text: str, start: str) -> str:
    """The ``X:`` and ``T:`` lines a model wrote at the start of a tune (each ending in a line
    break), from its text as sampled; the rest is dropped. Without the end of the title lines
    (`_TITLE_END`) in `text`, its last line was cut short and is dropped too; `start` alone
    when no whole line is left."""
    head, found, _ = text.partition(_TITLE_END)
    lines = head.split("\n")
    kept = []
    for i, line in enumerate(lines if found else lines[:-1]):
        if i == 0 or line.startswith("T:"):
            kept.append(line + "\n")
        else:
            break
    return "".join(kept) or start + "\n"


def _cut_at(tokens: list, stop: list, skip: int) -> list:
    if not stop:
        return tokens
    for i in range(skip, len(tokens) - len(stop) + 1):
        if tokens[i : i + len(stop)] == stop:
            return tokens[:i]
    return tokens
