"""Vocabularies and training batches: text (or note tokens) in, integer arrays out.

A character vocabulary maps each distinct character of the corpus to an integer; a token
vocabulary does the same for any hashable tokens, such as the ``(pitch, duration)`` notes of
`encode_midi`. Batches are random windows of the encoded corpus, with targets shifted by one:
the model learns to predict the next character from the ones before it.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path

import numpy as np

#: Tunes are joined with a blank line, which in ABC ends a tune; generation stops there too.
TUNE_SEPARATOR = "\n\n"

_UNKNOWN_POLICIES = ("error", "skip", "replace")


def _to_jsonable(token):
    return list(token) if isinstance(token, tuple) else token


def _from_jsonable(token):
    return tuple(token) if isinstance(token, list) else token


class CharVocab:
    """A bidirectional map between tokens and the integers ``0 .. len(vocab) - 1``.

    Parameters
    ----------
    tokens : sequence of hashable
        The vocabulary, one entry per id, without duplicates.
    is_text : bool
        True for a character vocabulary: `decode` then returns a `str`.
    unknown : hashable, optional
        A token reserved for anything outside the vocabulary (used by
        ``encode(..., on_unknown="replace")``). It is added to `tokens` if missing.

    Examples
    --------
    >>> vocab = CharVocab.from_texts(["abc", "cab"])
    >>> vocab.encode("cab")
    array([2, 0, 1], dtype=int32)
    >>> vocab.decode([0, 1, 2])
    'abc'
    """

    def __init__(
        self, tokens: Sequence[Hashable], *, is_text: bool = False, unknown: Hashable = None
    ):
        tokens = list(tokens)
        if unknown is not None and unknown not in tokens:
            tokens.append(unknown)
        if len(set(tokens)) != len(tokens):
            dupes = [t for t, n in Counter(tokens).items() if n > 1]
            raise ValueError(f"Vocabulary tokens must be unique; repeated: {dupes[:5]}")
        if is_text and not all(isinstance(t, str) and len(t) == 1 for t in tokens):
            raise ValueError("A character vocabulary holds single characters only.")
        if not tokens:
            raise ValueError("A vocabulary needs at least one token.")
        self.tokens: list[Hashable] = tokens
        self.is_text = is_text
        self.unknown = unknown
        self._index = {t: i for i, t in enumerate(tokens)}

    # ## Construction -----------------------------------------------------------------------

    @classmethod
    def from_texts(cls, texts: Iterable[str], *, unknown: str | None = None) -> CharVocab:
        """Every character that occurs in `texts`, sorted, plus the tune separator's newline."""
        chars = set("\n")
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"from_texts expects strings, got {type(text).__name__}.")
            chars.update(text)
        return cls(sorted(chars), is_text=True, unknown=unknown)

    @classmethod
    def from_sequences(
        cls, sequences: Iterable[Sequence[Hashable]], *, unknown: Hashable = None
    ) -> CharVocab:
        """Every token that occurs in `sequences` (e.g. note tuples), most frequent first."""
        counts: Counter = Counter()
        for seq in sequences:
            counts.update(seq)
        ordered = sorted(counts, key=lambda t: (-counts[t], repr(t)))
        return cls(ordered, is_text=False, unknown=unknown)

    # ## Use --------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: Hashable) -> bool:
        return token in self._index

    def __repr__(self) -> str:
        kind = "characters" if self.is_text else "tokens"
        return f"CharVocab({len(self)} {kind})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, CharVocab)
            and self.tokens == other.tokens
            and self.is_text == other.is_text
            and self.unknown == other.unknown
        )

    def encode(self, sequence: Iterable[Hashable], *, on_unknown: str = "error") -> np.ndarray:
        """Token ids of `sequence`, an ``(len(sequence),) int32`` array.

        Parameters
        ----------
        sequence : str or iterable of tokens
        on_unknown : {"error", "skip", "replace"}
            What to do with tokens outside the vocabulary: raise a `ValueError` that lists them,
            drop them, or map them to the vocabulary's `unknown` token.
        """
        if on_unknown not in _UNKNOWN_POLICIES:
            raise ValueError(f"on_unknown={on_unknown!r}; expected one of {_UNKNOWN_POLICIES}.")
        if on_unknown == "replace" and self.unknown is None:
            raise ValueError(
                "on_unknown='replace' needs a vocabulary built with unknown=<token>; "
                "or use on_unknown='skip'."
            )
        index = self._index
        try:  # fast path: everything is known
            return np.fromiter((index[t] for t in sequence), dtype=np.int32)
        except KeyError:
            pass
        except TypeError as exc:
            raise TypeError(f"Cannot encode {type(sequence).__name__}: {exc}") from None
        if on_unknown == "error":
            missing = Counter(t for t in sequence if t not in index)
            shown = ", ".join(
                f"{t!r}"
                + (f" (U+{ord(t):04X})" if isinstance(t, str) and len(t) == 1 else "")
                + (f" x{n}" if n > 1 else "")
                for t, n in missing.most_common(8)
            )
            raise ValueError(
                f"{sum(missing.values())} tokens are not in the vocabulary: {shown}. Pass "
                "on_unknown='skip' to drop them (or 'replace' with a vocabulary that has an "
                "unknown token), or rebuild the vocabulary from this data."
            )
        if on_unknown == "skip":
            return np.fromiter((index[t] for t in sequence if t in index), dtype=np.int32)
        unk = index[self.unknown]
        return np.fromiter((index.get(t, unk) for t in sequence), dtype=np.int32)

    def decode(self, ids: Iterable[int]) -> str | list:
        """Tokens of `ids`: a `str` for a character vocabulary, a `list` otherwise."""
        ids = np.asarray(ids, dtype=np.int64).ravel()
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.tokens)):
            bad = ids[(ids < 0) | (ids >= len(self.tokens))][0]
            raise ValueError(f"Id {bad} is outside this vocabulary of {len(self)} tokens.")
        tokens = [self.tokens[i] for i in ids]
        return "".join(tokens) if self.is_text else tokens

    # ## Saving -----------------------------------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": "mitdeeplearning.CharVocab/1",
                "is_text": self.is_text,
                "tokens": [_to_jsonable(t) for t in self.tokens],
                "unknown": _to_jsonable(self.unknown),
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> CharVocab:
        try:
            payload = json.loads(text)
            if payload.get("format") != "mitdeeplearning.CharVocab/1":
                raise ValueError("not a saved CharVocab")
            tokens = [_from_jsonable(t) for t in payload["tokens"]]
            unknown = _from_jsonable(payload.get("unknown"))
            return cls(tokens, is_text=payload["is_text"], unknown=unknown)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"Not a saved vocabulary ({exc}).") from None

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> CharVocab:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


# ## Corpus, splits and batches ------------------------------------------------------------------


def split_tunes(tunes: Sequence, val_fraction: float = 0.1, *, seed: int = 0) -> tuple[list, list]:
    """Split whole tunes (never a tune in two) into training and validation lists.

    Parameters
    ----------
    tunes : sequence
        Tunes (strings) or token sequences.
    val_fraction : float
        Share of tunes held out, in ``(0, 1)``; at least one tune goes to each side.
    seed : int
        The same seed gives the same split.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction={val_fraction} must be between 0 and 1.")
    if len(tunes) < 2:
        raise ValueError(f"Need at least 2 tunes to split, got {len(tunes)}.")
    order = np.random.default_rng(seed).permutation(len(tunes))
    n_val = min(max(1, round(len(tunes) * val_fraction)), len(tunes) - 1)
    val_idx = set(order[:n_val].tolist())
    train = [t for i, t in enumerate(tunes) if i not in val_idx]
    val = [t for i, t in enumerate(tunes) if i in val_idx]
    return train, val


def join_tunes(tunes: Sequence[str]) -> str:
    """One training text: the tunes separated by blank lines, ending with one too."""
    return TUNE_SEPARATOR.join(t.strip("\n") for t in tunes) + TUNE_SEPARATOR


def get_batch(
    ids: np.ndarray,
    seq_length: int,
    batch_size: int,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Random training windows of an encoded corpus.

    Parameters
    ----------
    ids : array of int, shape (n,)
        The encoded corpus.
    seq_length : int
        Length of each window.
    batch_size : int
        Number of windows.
    rng : numpy.random.Generator, optional
        Source of the window positions; a fresh, unseeded one when omitted.

    Returns
    -------
    x, y : int arrays of shape (batch_size, seq_length)
        Inputs and targets: ``y[i, t] == x[i, t + 1]``, and ``y[i, -1]`` is the character that
        follows the window in the corpus.

    Examples
    --------
    >>> ids = np.arange(10)
    >>> x, y = get_batch(ids, 4, 2, np.random.default_rng(0))
    >>> bool((x[:, 1:] == y[:, :-1]).all())
    True
    """
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids must be a 1-D array of token ids, got shape {ids.shape}.")
    if seq_length < 1 or batch_size < 1:
        raise ValueError(f"seq_length={seq_length} and batch_size={batch_size} must be >= 1.")
    if len(ids) < seq_length + 1:
        raise ValueError(
            f"The corpus has {len(ids)} tokens, too few for windows of seq_length={seq_length} "
            "plus the next token: use a shorter seq_length or more data."
        )
    rng = np.random.default_rng() if rng is None else rng
    starts = rng.integers(0, len(ids) - seq_length, size=batch_size)
    windows = ids[starts[:, None] + np.arange(seq_length + 1)]
    return windows[:, :-1], windows[:, 1:]


def make_dataset(ids: np.ndarray, seq_length: int, batch_size: int, *, seed: int = 0):
    """An endless ``tf.data.Dataset`` of ``(x, y)`` batches, as `get_batch` makes them.

    The windows are drawn in the input pipeline (seeded, reproducible) and prefetched, so the
    model never waits for data.
    """
    import tensorflow as tf

    ids = np.asarray(ids, dtype=np.int32)
    if len(ids) < seq_length + 1:
        get_batch(ids, seq_length, batch_size)  # raises the explanatory error
    corpus = tf.constant(ids)
    n_starts = len(ids) - seq_length
    offsets = tf.range(seq_length + 1)

    def window(batch_seed):
        starts = tf.random.stateless_uniform(
            [batch_size], seed=batch_seed, minval=0, maxval=n_starts, dtype=tf.int32
        )
        chunk = tf.gather(corpus, starts[:, None] + offsets[None, :])
        return chunk[:, :-1], chunk[:, 1:]

    seeds = tf.data.Dataset.counter().map(lambda i: tf.stack([tf.cast(seed, tf.int64), i]))
    return seeds.map(window, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def stream_batches(
    ids: np.ndarray, seq_length: int, batch_size: int, *, seed: int = 0, start: int = 0
):
    """Endless ``(x, y, new_epoch)`` batches that read the corpus as `batch_size` streams.

    Each epoch rotates the corpus by a seeded random offset (so window boundaries move), cuts it
    into `batch_size` equal rows and walks along them `seq_length` tokens at a time: row ``i``
    of one batch continues row ``i`` of the batch before. A model that carries its state from
    batch to batch (``build_model(..., stateful=True)``) thus reads whole tunes in order, with
    as much context as it can use, while each step costs no more than a random window.
    ``new_epoch`` is True on an epoch's first batch, where the state must be reset.
    `start` skips that many batches (to resume a run).
    """
    ids = np.asarray(ids, dtype=np.int32)
    row_length = (len(ids) - 1) // max(batch_size, 1)
    steps = row_length // seq_length if seq_length >= 1 else 0
    if steps < 1:
        raise ValueError(
            f"The corpus has {len(ids)} tokens, too few for {batch_size} streams of at least "
            f"seq_length={seq_length} + 1 tokens: use a smaller batch_size or seq_length."
        )
    epoch, step = divmod(start, steps)
    while True:
        offset = int(np.random.default_rng([seed, epoch]).integers(len(ids)))
        rotated = np.roll(ids, -offset)
        rows = rotated[: batch_size * row_length + 1]
        x = rows[:-1].reshape(batch_size, row_length)
        y = rows[1:].reshape(batch_size, row_length)
        for k in range(step, steps):
            window = slice(k * seq_length, (k + 1) * seq_length)
            yield x[:, window], y[:, window], k == 0
        epoch, step = epoch + 1, 0


def eval_windows(ids: np.ndarray, seq_length: int, max_tokens: int | None = None):
    """Consecutive, non-overlapping ``(x, y)`` windows covering `ids` (for validation loss)."""
    ids = np.asarray(ids, dtype=np.int32)
    if max_tokens is not None:
        ids = ids[: max_tokens + 1]
    n = (len(ids) - 1) // seq_length
    if n < 1:
        raise ValueError(f"Validation data of {len(ids)} tokens is shorter than one window.")
    x = ids[: n * seq_length].reshape(n, seq_length)
    y = ids[1 : n * seq_length + 1].reshape(n, seq_length)
    return x, y
