"""Lab 1's music: ABC folk tunes and MIDI melodies, vocabularies, an LSTM, sampling, and sound.

Public names are imported lazily, so ``import mitdeeplearning.music`` stays cheap and only the
parts you use load music21 or TensorFlow.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "load_tunes": "abc",
    "check_tune": "abc",
    "corrupt_tune": "abc",
    "TuneCheck": "abc",
    "encode_midi": "midi",
    "decode_notes": "midi",
    "tune_to_midi": "audio",
    "midi_to_wav": "audio",
    "play": "audio",
    "plot_piano_roll": "audio",
    "CharVocab": "vocab",
    "get_batch": "vocab",
    "split_tunes": "vocab",
    "join_tunes": "vocab",
    "make_dataset": "vocab",
    "stream_batches": "vocab",
    "build_model": "model",
    "train": "training",
    "TrainResult": "training",
    "evaluate_bits": "training",
    "LAB_CONFIG": "training",
    "generate": "sampling",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
