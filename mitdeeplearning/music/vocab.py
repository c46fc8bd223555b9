"""Vocabularies: a bidirectional map between tokens (characters, or notes) and integer ids.

A character vocabulary maps each distinct character of the corpus to an integer; a token
vocabulary does the same for any hashable tokens, such as the ``(pitch, duration)`` notes of
`midi_to_notes`. `mitdeeplearning.music.batches` turns the encoded corpus into training batches.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path

import numpy as np

from .._lazy import moved_names
from ..files import atomic_write
from ..guard import refuse_during_grading

__all__ = ["TUNE_SEPARATOR", "Vocab"]

#: Tunes are joined with a blank line, which in ABC ends a tune; generation stops there too.
TUNE_SEPARATOR = "\n\n"

_UNKNOWN_POLICIES = ("error", "skip", "replace")
# The "format" of a saved vocabulary (see Vocab.to_json). Its name predates the rename of
# CharVocab to Vocab; it stays, so that vocabularies saved by any version load in every other.
_SAVED_FORMAT = "mitdeeplearning.CharVocab/1"


def _to_jsonable(token):
    return list(token) if isinstance(token, tuple) else token


def _from_jsonable(token):
    return tuple(token) if isinstance(token, list) else token


class Vocab:
    r"""A bidirectional map between tokens and the integers ``0 .. len(vocab) - 1``.

    The tokens are characters (`from_texts`: `decode` gives a `str`) or any hashable values,
    such as ``(pitch, duration)`` notes (`from_sequences`: `decode` gives a `list`).

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
    >>> vocab = Vocab.from_texts(["abc", "cab"])
    >>> vocab.tokens  # every character, sorted, and the newline that separates tunes
    ['\n', 'a', 'b', 'c']
    >>> vocab.encode("cab")
    array([3, 1, 2], dtype=int32)
    >>> vocab.decode([1, 2, 3])
    'abc'
    >>> notes = Vocab.from_sequences([[(60, 1.0), (62, 0.5)], [(60, 1.0)]])
    >>> notes.encode([(62, 0.5), (60, 1.0)])  # the most frequent token gets id 0
    array([1, 0], dtype=int32)
    >>> notes.decode([0, 1])
    [(60, 1.0), (62, 0.5)]
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
    def from_texts(cls, texts: Iterable[str], *, unknown: str | None = None) -> Vocab:
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
    ) -> Vocab:
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
        return f"Vocab({len(self)} {kind})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Vocab)
            and self.tokens == other.tokens
            and self.is_text == other.is_text
            and self.unknown == other.unknown
        )

    def encode(self, sequence: Iterable[Hashable], *, on_unknown: str = "error") -> np.ndarray:
        """Token ids of `sequence`.

        Parameters
        ----------
        sequence : str or iterable of tokens
            Text for a character vocabulary, tokens otherwise.
        on_unknown : {"error", "skip", "replace"}
            What to do with tokens outside the vocabulary: raise a `ValueError` that lists them,
            drop them, or map them to the vocabulary's `unknown` token.

        Returns
        -------
        numpy.ndarray
            ``(n,) int32`` ids, one per token kept (``n == len(sequence)`` unless skipped).
        """
        refuse_during_grading("music.Vocab.encode")
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
        """Tokens of `ids` (an int array-like of any shape, read in row-major order): a `str`
        for a character vocabulary, a `list` of tokens otherwise; a `ValueError` names an id
        outside ``0 .. len(self) - 1``."""
        ids = np.asarray(ids, dtype=np.int64).ravel()
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.tokens)):
            bad = ids[(ids < 0) | (ids >= len(self.tokens))][0]
            raise ValueError(f"Id {bad} is outside this vocabulary of {len(self)} tokens.")
        tokens = [self.tokens[i] for i in ids]
        return "".join(tokens) if self.is_text else tokens

    # ## Saving -----------------------------------------------------------------------------------

    def to_json(self) -> str:
        """The vocabulary as JSON text (tuples become lists), read back by `from_json`.

        Examples
        --------
        >>> vocab = Vocab.from_sequences([[(60, 1.0), ("rest", 0.5)]])
        >>> Vocab.from_json(vocab.to_json()) == vocab
        True
        """
        return json.dumps(
            {
                "format": _SAVED_FORMAT,
                "is_text": self.is_text,
                "tokens": [_to_jsonable(t) for t in self.tokens],
                "unknown": _to_jsonable(self.unknown),
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> Vocab:
        """The vocabulary `to_json` wrote; a `ValueError` for any other text."""
        try:
            payload = json.loads(text)
            if payload.get("format") != _SAVED_FORMAT:
                raise ValueError(f"its format is not {_SAVED_FORMAT!r}")
            tokens = [_from_jsonable(t) for t in payload["tokens"]]
            unknown = _from_jsonable(payload.get("unknown"))
            return cls(tokens, is_text=payload["is_text"], unknown=unknown)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"Not a saved vocabulary ({exc}).") from None

    def save(self, path: str | os.PathLike) -> Path:
        """Write `to_json`'s text to `path` (through a temporary file, so never half-written);
        returns `path`."""
        path = Path(path)
        with atomic_write(path) as f:
            f.write(self.to_json())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocab:
        """The vocabulary `save` wrote to `path`."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


#: Old spellings that still work, warning once: ``CharVocab`` (now `Vocab`) and the batching
#: functions, which moved to `mitdeeplearning.music.batches` when batching got its own module.
__getattr__ = moved_names(
    __name__,
    {
        "CharVocab": "Vocab",
        **{
            name: f"mitdeeplearning.music.batches:{name}"
            for name in (
                "eval_windows",
                "get_batch",
                "join_tunes",
                "make_dataset",
                "split_tunes",
                "stream_batches",
            )
        },
    },
    globals(),
)
