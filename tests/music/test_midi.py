"""midi_to_notes and notes_to_midi: MIDI melodies as (pitch, duration) tokens, and back."""

from __future__ import annotations

import math

import mido
import pretty_midi
import pytest

from mitdeeplearning import _lazy
from mitdeeplearning.music import midi
from mitdeeplearning.music.midi import midi_to_notes, notes_to_midi


def write_song(path, parts, *, tempo=120.0, resolution=480):
    """Write a MIDI file. `parts` holds (program, is_drum, [(pitch, start beat, end beat)])."""
    song = pretty_midi.PrettyMIDI(resolution=resolution, initial_tempo=tempo)
    seconds = 60.0 / tempo
    for program, is_drum, notes in parts:
        instrument = pretty_midi.Instrument(program=program, is_drum=is_drum)
        for pitch, start, end in notes:
            instrument.notes.append(pretty_midi.Note(90, pitch, start * seconds, end * seconds))
        song.instruments.append(instrument)
    song.write(str(path))
    return path


def files_in(folder):
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


# ## Round trips

ROUND_TRIPS = {
    "notes and rests": [(62, 0.5), (64, 0.25), ("rest", 0.75), (66, 1.0), (69, 2.0), (74, 0.25)],
    "repeated pitch stays two notes": [(60, 1.0), (60, 1.0), ("rest", 0.5), (60, 0.5)],
    "longest note and rest": [(72, 4.0), ("rest", 4.0), (0, 0.25), (127, 0.25)],
    "single note": [(60, 0.25)],
}


@pytest.mark.parametrize("tokens", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_decode_then_encode_gives_the_tokens_back(tmp_path, tokens):
    path = notes_to_midi(tokens, tmp_path / "tune.mid")
    assert path == tmp_path / "tune.mid"
    assert midi_to_notes(path) == tokens


def test_round_trip_with_triplet_grid_other_tempo_and_program(tmp_path):
    third = 1 / 3
    tokens = [(67, third), (69, third), (71, third), ("rest", 2 * third), (72, 1.0)]
    path = notes_to_midi(tokens, tmp_path / "t.mid", tempo=90, program=40)
    song = pretty_midi.PrettyMIDI(str(path))
    assert [i.program for i in song.instruments] == [40]
    # MIDI stores whole microseconds per beat, so 90 bpm comes back as 90.00009
    assert song.get_tempo_changes()[1].tolist() == pytest.approx([90.0], rel=1e-5)
    assert midi_to_notes(path, grid=third) == tokens


def test_tokens_are_plain_hashable_python_values(tmp_path):
    path = write_song(tmp_path / "s.mid", [(0, False, [(60, 0, 1), (62, 2, 2.5)])])
    tokens = midi_to_notes(path)
    assert tokens == [(60, 1.0), ("rest", 1.0), (62, 0.5)]
    assert all(type(p) in (int, str) and type(d) is float for p, d in tokens)
    assert len(set(tokens)) == 3  # hashable: usable as vocabulary entries


def test_decode_writes_notes_at_the_right_times(tmp_path):
    path = notes_to_midi([(60, 1.0), ("rest", 0.5), (64, 2.0)], tmp_path / "x.mid", tempo=60)
    notes = pretty_midi.PrettyMIDI(str(path)).instruments[0].notes
    assert [(n.pitch, n.start, n.end) for n in notes] == [(60, 0.0, 1.0), (64, 1.5, 3.5)]


def test_decode_creates_folders_and_leaves_only_the_file(tmp_path):
    path = notes_to_midi([(60, 1.0)], tmp_path / "a" / "b" / "tune.mid")
    assert path.is_file()
    assert files_in(tmp_path) == ["tune.mid"]


def test_decode_accepts_lists_as_read_back_from_json(tmp_path):
    path = notes_to_midi([[60, 1], ["rest", 1], [62, 0.5]], tmp_path / "j.mid")
    assert midi_to_notes(path) == [(60, 1.0), ("rest", 1.0), (62, 0.5)]


# ## Melody extraction


def test_melody_is_found_among_chords_and_drums(tmp_path):
    melody = [(76, 0, 1), (79, 1, 1.5), (81, 1.5, 2), (79, 3, 4), (72, 4, 8)]
    chords = [(p, bar * 4, bar * 4 + 4) for bar in range(2) for p in (48, 52, 55)]
    chords += [(p, b, b + 0.5) for b in range(8) for p in (43,)]  # a busy bass line
    drums = [(81, b / 2, b / 2 + 0.25) for b in range(16)]  # triangle: high "pitch", not notes
    path = write_song(
        tmp_path / "band.mid", [(0, False, chords), (0, True, drums), (73, False, melody)]
    )
    tune = [(76, 1.0), (79, 0.5), (81, 0.5), ("rest", 1.0), (79, 1.0), (72, 4.0)]
    assert midi_to_notes(path) == tune


def test_instrument_argument_chooses_the_track_and_skyline_keeps_top_notes(tmp_path):
    chords = [(60, 0, 2), (64, 0, 2), (67, 0, 2), (62, 2, 3), (65, 2, 3)]
    melody = [(84, 0, 3)]
    path = write_song(tmp_path / "c.mid", [(73, False, melody), (0, False, chords)])
    assert midi_to_notes(path, instrument=1) == [(67, 2.0), (65, 1.0)]
    assert midi_to_notes(path) == [(84, 3.0)]


def test_a_held_lower_note_resumes_when_the_higher_one_ends(tmp_path):
    path = write_song(tmp_path / "h.mid", [(0, False, [(60, 0, 4), (72, 1, 2)])])
    assert midi_to_notes(path) == [(60, 1.0), (72, 1.0), (60, 2.0)]


def test_an_instrument_with_few_notes_does_not_win_on_pitch(tmp_path):
    tune = [(67 + i % 5, i / 2, i / 2 + 0.5) for i in range(40)]
    bells = [(100, 0, 1), (100, 8, 9)]  # 2 notes: under a tenth of the tune's 40
    path = write_song(tmp_path / "b.mid", [(14, False, bells), (0, False, tune)])
    assert midi_to_notes(path)[:3] == [(67, 0.5), (68, 0.5), (69, 0.5)]


def test_leading_silence_is_dropped(tmp_path):
    path = write_song(tmp_path / "l.mid", [(0, False, [(60, 3, 4), (62, 4, 5)])])
    assert midi_to_notes(path) == [(60, 1.0), (62, 1.0)]


def test_tempo_map_converts_seconds_to_beats(tmp_path):
    # Beat 0-1 at 120 bpm (0.5 s per beat), then from beat 2 at 60 bpm (1 s per beat).
    song = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    song.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=500_000, time=0))
    track.append(mido.Message("note_on", note=60, velocity=90, time=0))
    track.append(mido.Message("note_off", note=60, velocity=0, time=480))
    track.append(mido.MetaMessage("set_tempo", tempo=1_000_000, time=480))
    for pitch in (62, 64):
        track.append(mido.Message("note_on", note=pitch, velocity=90, time=0))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=480))
    song.save(tmp_path / "tempo.mid")
    seconds = [
        n.end - n.start
        for n in pretty_midi.PrettyMIDI(str(tmp_path / "tempo.mid")).instruments[0].notes
    ]
    assert seconds == pytest.approx([0.5, 1.0, 1.0])  # the file really changes tempo
    assert midi_to_notes(tmp_path / "tempo.mid") == [(60, 1.0), ("rest", 1.0), (62, 1.0), (64, 1.0)]


# ## Quantisation and capping


def test_notes_snap_to_the_grid_and_short_ones_vanish(tmp_path):
    notes = [
        (60, 0.02, 0.98),  # played a little late and short: one beat
        (61, 1.0, 1.1),  # under half a 16th (0.125 beats): a grace note, dropped
        (62, 1.5, 1.625),  # exactly half a 16th: rounds up to one 16th
        (64, 2.0, 3.0),
    ]
    path = write_song(tmp_path / "q.mid", [(0, False, notes)])
    assert midi_to_notes(path) == [(60, 1.0), ("rest", 0.5), (62, 0.25), ("rest", 0.25), (64, 1.0)]
    # On an eighth-note grid the 16th is under half a step too.
    assert midi_to_notes(path, grid=0.5) == [(60, 1.0), ("rest", 1.0), (64, 1.0)]


def test_long_notes_are_cut_and_long_rests_shortened(tmp_path):
    notes = [(60, 0, 6), (62, 6, 7), (64, 17, 18), (65, 18, 28)]
    path = write_song(tmp_path / "long.mid", [(0, False, notes)])
    assert midi_to_notes(path) == [
        (60, 4.0),
        ("rest", 2.0),  # the rest of the held note: the next note keeps its place
        (62, 1.0),
        ("rest", 4.0),  # 10 beats of silence, capped
        (64, 1.0),
        (65, 4.0),  # cut at the end; no trailing rest
    ]
    assert max(d for _, d in midi_to_notes(path, max_duration=2.0)) == 2.0


# ## Bad input


@pytest.mark.parametrize(
    "content",
    [b"X:1\nT:not midi\nK:D\nDEFG|\n", b"", b"MThd\x00\x00\x00\x06\x00\x01", "truncated"],
    ids=["text", "empty", "header only", "truncated"],
)
def test_a_file_that_is_not_midi_raises_value_error_naming_it(tmp_path, content):
    if content == "truncated":
        full = write_song(tmp_path / "full.mid", [(0, False, [(60, 0, 1), (62, 1, 2)])])
        content = full.read_bytes()[:-10]
    path = tmp_path / "bad.mid"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"bad\.mid is not a readable MIDI file"):
        midi_to_notes(path)


def test_a_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.mid"):
        midi_to_notes(tmp_path / "missing.mid")


def test_a_midi_file_without_pitched_notes_raises(tmp_path):
    drums = write_song(tmp_path / "drums.mid", [(0, True, [(36, 0, 1), (38, 1, 2)])])
    with pytest.raises(ValueError, match="drums.mid has no pitched notes"):
        midi_to_notes(drums)
    empty = write_song(tmp_path / "empty.mid", [])
    with pytest.raises(ValueError, match="no pitched notes"):
        midi_to_notes(empty)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"grid": 0}, "grid must be a positive"),
        ({"grid": math.nan}, "grid must be a positive"),
        ({"max_duration": 0.1}, "max_duration must be"),
        ({"max_duration": math.inf}, "max_duration must be"),
        ({"instrument": 5}, "instrument must be an index 0-1"),
        ({"instrument": 1}, "instrument 1 .* is a drum track"),
    ],
)
def test_bad_encode_arguments_are_named(tmp_path, kwargs, message):
    path = write_song(tmp_path / "s.mid", [(0, False, [(60, 0, 1)]), (0, True, [(36, 0, 1)])])
    with pytest.raises(ValueError, match=message):
        midi_to_notes(path, **kwargs)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ((128, 1.0), "pitch must be a MIDI note number"),
        ((-1, 1.0), "pitch must be a MIDI note number"),
        (("C4", 1.0), "pitch must be a MIDI note number"),
        ((True, 1.0), "pitch must be a MIDI note number"),
        ((60.5, 1.0), "pitch must be a MIDI note number"),
        ((60, 0), "duration must be a positive"),
        ((60, -0.5), "duration must be a positive"),
        ((60, math.inf), "duration must be a positive"),
        (("rest", "1"), "duration must be a positive"),
        ((60,), "expected a \\(pitch, duration\\) pair"),
        ((60, 1.0, 90), "expected a \\(pitch, duration\\) pair"),
        (60, "expected a \\(pitch, duration\\) pair"),
        ("ab", "expected a \\(pitch, duration\\) pair"),
    ],
)
def test_invalid_tokens_are_named_with_their_index_and_nothing_is_written(tmp_path, bad, message):
    destination = tmp_path / "out" / "bad.mid"
    with pytest.raises(ValueError, match=message) as raised:
        notes_to_midi([(60, 1.0), ("rest", 1.0), bad], destination)
    assert "token 2" in str(raised.value) and repr(bad) in str(raised.value)
    assert files_in(tmp_path) == []


def test_a_failed_decode_keeps_the_existing_file(tmp_path):
    path = notes_to_midi([(60, 1.0)], tmp_path / "keep.mid")
    before = path.read_bytes()
    with pytest.raises(ValueError, match="token 0"):
        notes_to_midi([(200, 1.0)], path)
    assert path.read_bytes() == before
    assert files_in(tmp_path) == ["keep.mid"]


@pytest.mark.parametrize(
    ("tokens", "kwargs", "message"),
    [
        ([], {}, "no notes"),
        ([("rest", 1.0)], {}, "no notes"),
        ("60 1.0", {}, "tokens must be a list"),
        ([(60, 1.0)], {"tempo": 0}, "tempo must be a positive"),
        ([(60, 1.0)], {"program": 128}, "program must be a General MIDI program"),
    ],
)
def test_decode_rejects_empty_input_and_bad_arguments(tmp_path, tokens, kwargs, message):
    with pytest.raises(ValueError, match=message):
        notes_to_midi(tokens, tmp_path / "x.mid", **kwargs)
    assert files_in(tmp_path) == []


# ## The module itself


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing_behind(tmp_path, monkeypatch):
    path = notes_to_midi([(60, 1.0)], tmp_path / "tune.mid")
    before = path.read_bytes()

    def fail(self, filename):
        with open(filename, "wb") as f:
            f.write(b"MThd half a file")
        raise RuntimeError("the writer failed")

    monkeypatch.setattr(pretty_midi.PrettyMIDI, "write", fail)
    with pytest.raises(RuntimeError, match="the writer failed"):
        notes_to_midi([(62, 2.0)], path)
    assert path.read_bytes() == before and files_in(tmp_path) == ["tune.mid"]


def test_atomic_output_is_now_files_atomic_path_and_warns(monkeypatch):
    from mitdeeplearning.files import atomic_path

    monkeypatch.setattr(_lazy, "_warned", set())
    with pytest.warns(FutureWarning, match=r"midi\.atomic_output has been renamed .*atomic_path"):
        assert midi.atomic_output is atomic_path


@pytest.mark.parametrize(
    ("old", "new"), [("encode_midi", "midi_to_notes"), ("decode_notes", "notes_to_midi")]
)
def test_the_old_names_still_work_and_warn(monkeypatch, old, new):
    import mitdeeplearning.music as music

    monkeypatch.setattr(_lazy, "_warned", set())
    with pytest.warns(FutureWarning, match=rf"music\.{old} has been renamed music\.{new}"):
        assert getattr(music, old) is getattr(midi, new)
    with pytest.warns(FutureWarning, match=rf"midi\.{old} has been renamed .*midi\.{new}"):
        assert getattr(midi, old) is getattr(midi, new)
