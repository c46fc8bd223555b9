"""Sampling new tunes from a trained model, many at once, in one compiled loop.

The reference lab called the whole Keras model once per character, eagerly. Here the model's
own layers are stepped inside a `tf.function`: each step embeds the last token, advances the
recurrent cells (carrying their state), turns the logits into probabilities with a temperature
and samples the next token, for a whole batch of tunes; the loop stops when every tune has
ended (a blank line, which in ABC closes a tune) or reached `max_length`.

With ``fit_bars=True`` (the default for ABC text) the model is stepped one character at a time
for the whole batch from Python instead, so that a bar that cannot fit the meter can be drawn
again (`mitdeeplearning.music.bar_sampling`): the model still proposes every note.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from .abc import FIELD_LINE_PATTERN
from .bar_sampling import BAR_REDRAWS, sample_fitting_bars
from .model import recurrent_layers
from .vocab import TUNE_SEPARATOR, Vocab

#: The default temperature and nucleus, the lab's (`LAB_CONFIG`): a moderate temperature, and
#: the unlikely tail cut off (benchmarks/RESULTS.md has the settings tried and their figures).
TEMPERATURE = 0.5
TOP_P = 0.9
#: How most ABC tunes end (a closing repeat: 745 of O'Neill's 2,008; "||" 824, "|]" 434).
TUNE_END = ":|"

# Kept outside the model: an attribute set on a Keras model is tracked as part of it.
_SAMPLERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _model_parts(model):
    """The embedding, the recurrent cells, their state sizes (a list per cell) and the Dense."""
    embedding = model.get_layer("embedding")
    dense = model.get_layer("logits")
    cells = [layer.cell for layer in recurrent_layers(model)]
    if not cells:
        raise ValueError("generate needs a model with an LSTM or GRU layer (see build_model).")
    state_sizes = [
        [cell.state_size] if isinstance(cell.state_size, int) else list(cell.state_size)
        for cell in cells
    ]
    return embedding, cells, state_sizes, dense


def _build_step(model):
    """One compiled sampling step for a batch, its state passed in and out (for `fit_bars`)."""
    embedding, cells, state_sizes, dense = _model_parts(model)
    specs = [tf.TensorSpec([None, size], tf.float32) for sizes in state_sizes for size in sizes]

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.int32),  # the last token of each tune (batch,)
            specs,  # the state, one (batch, units) tensor per state tensor of the model
            tf.TensorSpec([], tf.float32),  # temperature
            tf.TensorSpec([], tf.float32),  # top_p
            tf.TensorSpec([2], tf.int64),  # seed
        ]
    )
    def step(token, flat_states, temperature, top_p, seed):
        x = embedding(token[:, None])[:, 0, :]  # (batch, embedding_dim)
        new_states, k = [], 0
        for cell, sizes in zip(cells, state_sizes, strict=True):
            x, state = cell(x, list(flat_states[k : k + len(sizes)]))
            k += len(sizes)
            new_states += list(state) if isinstance(state, list | tuple) else [state]
        logits = nucleus(dense(x) / temperature, top_p)  # (batch, vocab)
        sampled = tf.random.stateless_categorical(logits, 1, seed=seed, dtype=tf.int32)[:, 0]
        return sampled, new_states

    return step, [size for sizes in state_sizes for size in sizes]


def _build_sampler(model):
    embedding, cells, state_sizes, dense = _model_parts(model)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None], tf.int32),  # prefix ids (batch, longest prefix)
            tf.TensorSpec([None], tf.int32),  # each row's prefix length (batch,)
            tf.TensorSpec([], tf.int32),  # total steps
            tf.TensorSpec([], tf.float32),  # temperature
            tf.TensorSpec([], tf.float32),  # top_p (1: no nucleus)
            tf.TensorSpec([], tf.int64),  # seed
            tf.TensorSpec([None], tf.int32),  # stop sequence (0, 1 or 2 ids)
        ]
    )
    def sample(prefix, prefix_len, steps, temperature, top_p, seed, stop):
        batch = tf.shape(prefix)[0]
        longest = tf.shape(prefix)[1]
        states = [[tf.zeros([batch, size]) for size in sizes] for sizes in state_sizes]
        token = prefix[:, 0]
        previous = tf.fill([batch], -1)
        done = tf.zeros([batch], tf.bool)
        out = tf.TensorArray(tf.int32, size=steps)
        stop_len = tf.shape(stop)[0]
        last_stop = tf.cond(stop_len > 0, lambda: stop[stop_len - 1], lambda: tf.constant(-1))
        first_stop = tf.cond(stop_len > 1, lambda: stop[0], lambda: tf.constant(-1))
        for t in tf.range(steps):
            x = embedding(token[:, None])[:, 0, :]  # (batch, embedding_dim)
            new_states = []
            for cell, state in zip(cells, states, strict=True):
                x, state = cell(x, state)
                new_states.append(list(state) if isinstance(state, list | tuple) else [state])
            states = new_states
            logits = dense(x)  # (batch, vocab)
            if temperature > 0:
                logits = nucleus(logits / temperature, top_p)
                sampled = tf.random.stateless_categorical(
                    logits, 1, seed=tf.stack([seed, tf.cast(t, tf.int64)]), dtype=tf.int32
                )[:, 0]
            else:
                sampled = tf.argmax(logits, axis=-1, output_type=tf.int32)
            forced = t + 1 < prefix_len  # (batch,): still reading the given start of the tune
            nxt = tf.where(forced, prefix[:, tf.minimum(t + 1, longest - 1)], sampled)
            nxt = tf.where(done, tf.fill([batch], last_stop), nxt)
            ends = (nxt == last_stop) & ((previous == first_stop) | (stop_len < 2) | done)
            # Only what the model wrote can end a tune, never the prefix.
            done = done | (ends & tf.logical_not(forced) & (stop_len > 0))
            out = out.write(t, nxt)
            previous, token = token, nxt
            if tf.reduce_all(done):
                break
        return tf.transpose(out.stack())  # (batch, steps_taken)

    return sample


def nucleus(logits, top_p):
    """`logits` with every token outside the nucleus set to -inf: the smallest set of most likely
    tokens whose probabilities add up to at least `top_p` (Holtzman et al., "The Curious Case of
    Neural Text Degeneration", ICLR 2020). ``(batch, vocab)`` in and out; `top_p` >= 1 keeps all.
    """
    if top_p >= 1:
        return logits
    ranked = tf.sort(logits, direction="DESCENDING", axis=-1)
    before = tf.math.cumsum(tf.nn.softmax(ranked), axis=-1, exclusive=True)
    kept = tf.reduce_sum(tf.cast(before < top_p, tf.int32), axis=-1)  # >= 1: the top token
    threshold = tf.gather(ranked, kept - 1, batch_dims=1)[:, None]
    return tf.where(logits < threshold, tf.constant(-float("inf"), logits.dtype), logits)


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
        tokens outside the vocabulary, or `headers` that are not ABC header lines.
    """
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
    sample = _Sampling(model, vocab, primer_ids, stop_ids, temperature, top_p or 1.0, redraws)
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

    def __init__(self, model, vocab, primer_ids, stop_ids, temperature, top_p, redraws):
        if model not in _SAMPLERS:  # one compiled sampler per model, traced once
            _SAMPLERS[model] = {"loop": _build_sampler(model)}
        self.compiled = _SAMPLERS[model]
        self.model, self.vocab, self.primer_ids, self.stop_ids = model, vocab, primer_ids, stop_ids
        self.temperature, self.top_p, self.redraws = temperature, top_p, redraws

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
        ids = self.compiled["loop"](
            tf.constant(padded),
            tf.constant(lengths),
            tf.constant(total - 1, tf.int32),
            tf.constant(self.temperature, tf.float32),
            tf.constant(self.top_p, tf.float32),
            tf.constant(seed % 2**63, tf.int64),
            tf.constant(stop_ids, tf.int32),
        ).numpy()
        return [np.concatenate([first, row]) for first, row in zip(padded[:, :1], ids, strict=True)]

    def _fitting_bars(self, rows, total, seed, stop_ids):
        """Each row's ids and its bars redrawn, stepping the batch from Python (`fit_bars`)."""
        if "step" not in self.compiled:
            self.compiled["step"] = _build_step(self.model)
        step_fn, sizes = self.compiled["step"]
        temperature = tf.constant(self.temperature, tf.float32)
        top_p = tf.constant(self.top_p, tf.float32)
        seed = seed % 2**63

        def step(tokens, states, t):
            sampled, new = step_fn(tokens, states, temperature, top_p,
                                   tf.constant([seed, t], tf.int64))  # fmt: skip
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
