"""Sampling new tunes from a trained model, many at once, in one compiled loop.

The reference lab called the whole Keras model once per character, eagerly. Here the model's
own layers are stepped inside a `tf.function`: each step embeds the last token, advances the
recurrent cells (carrying their state), turns the logits into probabilities with a temperature
and samples the next token, for a whole batch of tunes; the loop stops when every tune has
ended (a blank line, which in ABC closes a tune) or reached `max_length`.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from .abc import FIELD_LINE_PATTERN
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


def _build_sampler(model):
    embedding = model.get_layer("embedding")
    dense = model.get_layer("logits")
    cells = [layer.cell for layer in recurrent_layers(model)]
    if not cells:
        raise ValueError("generate needs a model with an LSTM or GRU layer (see build_model).")
    state_sizes = [
        [cell.state_size] if isinstance(cell.state_size, int) else list(cell.state_size)
        for cell in cells
    ]

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
) -> list:
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

    Returns
    -------
    list
        `num_tunes` strings for a character vocabulary, lists of tokens otherwise.

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
    sample = _Sampling(model, vocab, primer_ids, stop_ids, temperature, top_p or 1.0)
    if header_list is None:
        return sample([prefix] * num_tunes, max_length, seed, len(prefix))
    # The model writes each tune's number and title, then reads the header it is given.
    titles = sample([prefix] * num_tunes, _TITLE_LENGTH, seed, len(prefix), stop=_TITLE_END,
                    cut=False)  # fmt: skip
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


class _Sampling:
    """One model's compiled sampler with the arguments that stay the same for every call."""

    def __init__(self, model, vocab, primer_ids, stop_ids, temperature, top_p):
        if model not in _SAMPLERS:  # one compiled sampler per model, traced once
            _SAMPLERS[model] = _build_sampler(model)
        self.sampler = _SAMPLERS[model]
        self.vocab, self.primer_ids, self.stop_ids = vocab, primer_ids, stop_ids
        self.temperature, self.top_p = temperature, top_p

    def __call__(self, prefixes, max_length, seed, skip, stop=None, cut=True) -> list:
        """Tunes that start with each of `prefixes` (id arrays), up to `max_length` tokens; with
        ``cut=False``, the text as sampled, the stop and what follows it included."""
        stop_ids = self.stop_ids if stop is None else self.vocab.encode(stop)
        rows = [np.concatenate([self.primer_ids, p]).astype(np.int32) for p in prefixes]
        lengths = np.array([len(r) for r in rows], np.int32)
        padded = np.zeros((len(rows), lengths.max()), np.int32)
        for i, row in enumerate(rows):
            padded[i, : len(row)] = row
        ids = self.sampler(
            tf.constant(padded),
            tf.constant(lengths),
            tf.constant(max_length - 1 + len(self.primer_ids), tf.int32),
            tf.constant(self.temperature, tf.float32),
            tf.constant(self.top_p, tf.float32),
            tf.constant(seed % 2**63, tf.int64),
            tf.constant(stop_ids, tf.int32),
        ).numpy()
        stop_text = self.vocab.decode(stop_ids)
        tunes = []
        for first, row in zip(padded[:, :1], ids, strict=True):
            sequence = np.concatenate([first, row])[len(self.primer_ids) :]
            tokens = self.vocab.decode(sequence)
            if self.vocab.is_text and not cut:
                tunes.append(tokens)
            elif self.vocab.is_text:
                text = tokens if not stop_text else tokens.split(stop_text, 1)[0]
                tunes.append(text.rstrip() + "\n")
            else:
                tunes.append(_cut_at(tokens, list(stop_text), skip))
        return tunes


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
