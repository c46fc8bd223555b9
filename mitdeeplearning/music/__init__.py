"""Lab 1's music: ABC folk tunes and MIDI melodies, vocabularies, an LSTM, sampling, and sound.

Public names are imported lazily, so ``import mitdeeplearning.music`` stays cheap and only the
parts you use load music21 or TensorFlow. Each name lives in the module named for what it does:

* `abc` loads ABC tune collections; `tune_check` says whether a tune is well formed (measuring
  its bars with `bar_scanner`); `headers` reads keys and meters (and draws headers from a
  collection); `stats` says whether a set of tunes is valid, varied and new;
* `midi` turns a MIDI file's melody into note tokens and back;
* `vocab` maps characters or tokens to ids; `batches` holds out tunes and cuts training batches;
* `model` builds the sequence model, `training` trains it (with the shared toolkit,
  `mitdeeplearning.training`, and `checkpoints` to resume), `evaluation` scores it in bits per
  character, `sampling` writes new tunes (stepping the model in `sampling_loop`, with the
  `sampling_step` a student can write);
* `audio` plays a tune (at the tempo `performance` chooses, with `synth`'s NumPy fiddle when
  FluidSynth is missing), `piano_roll` draws one.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "load_tunes": "abc",
    "check_tune": "tune_check",
    "corrupt_tune": "tune_check",
    "TuneCheck": "tune_check",
    "midi_to_notes": "midi",
    "notes_to_midi": "midi",
    "tune_to_midi": "audio",
    "midi_to_wav": "audio",
    "play": "audio",
    "plot_piano_roll": "piano_roll",
    "bar_lines": "piano_roll",
    "tune_tempo": "performance",
    "session_tempo": "performance",
    "Tempo": "performance",
    "synthesize": "synth",
    "Vocab": "vocab",
    "split_tunes": "batches",
    "join_tunes": "batches",
    "get_batch": "batches",
    "make_dataset": "batches",
    "stream_batches": "batches",
    "build_model": "model",
    "train": "training",
    "TrainResult": "training",
    "evaluate_bits": "evaluation",
    "LAB_CONFIG": "training",
    "generate": "sampling",
    "sampling_step": "sampling",
    "draw_headers": "headers",
    "tune_stats": "stats",
    "TuneStats": "stats",
}

#: Old public names, still working with one warning each: old name → new name.
_RENAMED = {
    "CharVocab": "Vocab",
    "encode_midi": "midi_to_notes",
    "decode_notes": "notes_to_midi",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals(), renamed=_RENAMED)
