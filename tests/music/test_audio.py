"""tune_to_midi, midi_to_wav and play: ABC → MIDI → sound."""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from mitdeeplearning import _lazy
from mitdeeplearning.music import audio
from mitdeeplearning.music.audio import midi_to_wav, play, tune_to_midi
from mitdeeplearning.music.midi import notes_to_midi

REEL = """X:1
T:Test Reel
M:4/4
L:1/8
K:D
|:DEFG ABcd|efge dcBA|DEFG ABcd|efdc d4:|
"""
# The reel's notes once, in D major (F and C sharp): D4 = 62 ... g = G5 = 79.
REEL_PITCHES = [62, 64, 66, 67, 69, 71, 73, 74, 76, 78, 79, 76, 74, 73, 71, 69]
REEL_PITCHES += [62, 64, 66, 67, 69, 71, 73, 74, 76, 78, 74, 73, 74]
# 4 bars of 4/4 played twice at a reel's session tempo, 110 half notes a minute.
REEL_SECONDS = 8 * 2 * 60 / 110
D4_HZ = 293.66

SCALE = "X:2\nT:Scale\nM:4/4\nL:1/8\nK:C\nCDEF GABc|\n"  # C4 to C5 in one bar
SCALE_SECONDS = 2 * 60 / 110


def files_in(folder):
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def read_wav(source):
    """(rate, sample width, channels, int16 samples) of a WAV file path or WAV bytes."""
    handle = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    with wave.open(handle) as w:
        frames = w.readframes(w.getnframes())
        return w.getframerate(), w.getsampwidth(), w.getnchannels(), np.frombuffer(frames, "<i2")


# ## tune_to_midi


def test_tune_to_midi_writes_the_notes_with_repeats_played_out(tmp_path):
    path = tune_to_midi(REEL, tmp_path / "reel.mid")
    assert path == tmp_path / "reel.mid"
    song = pretty_midi.PrettyMIDI(str(path))
    notes = [n for instrument in song.instruments for n in instrument.notes]
    assert [n.pitch for n in notes] == REEL_PITCHES * 2
    assert notes[0].start == 0.0 and notes[0].end == pytest.approx(60 / 110 / 4)  # an eighth
    assert song.get_end_time() == pytest.approx(REEL_SECONDS)
    assert files_in(tmp_path) == ["reel.mid"]


def test_tune_to_midi_creates_folders_and_replaces_a_file(tmp_path):
    path = tmp_path / "deep" / "er" / "tune.mid"
    tune_to_midi(REEL, path)
    tune_to_midi(SCALE, path)
    notes = pretty_midi.PrettyMIDI(str(path)).instruments[0].notes
    assert [n.pitch for n in notes] == [60, 62, 64, 65, 67, 69, 71, 72]
    assert files_in(tmp_path) == ["tune.mid"]


def test_tune_to_midi_silences_music21_warnings(tmp_path, capsys):
    # A lone sharp sign: music21 prints "abcFormat: WARNING ... assuming C" and carries on.
    tune_to_midi("X:1\nT:W\nM:4/4\nL:1/8\nK:D\nDE^ FG|\n", tmp_path / "w.mid")
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert len(pretty_midi.PrettyMIDI(str(tmp_path / "w.mid")).instruments[0].notes) == 5


BAD_TUNES = {
    "empty": ("", "the text is empty"),
    "blank": ("  \n\n", "the text is empty"),
    "no L or M": ("X:1\nT:Headless\nK:D\nDEFG|", "needs an L: .* or M:"),
    "prose": ("This is not a tune, just words.", "ABCHandlerException"),
    "broken": ("X:1\nT:Broken\nM:4/4\nK:D\n|:[[[abc]]]((3 ^^^_ =|]:|", "Exception"),
    "no notes": ("X:1\nT:Silence\nM:4/4\nL:1/8\nK:D\n", "it has no notes"),
    "rests only": ("X:1\nT:Rests\nM:4/4\nL:1/8\nK:D\nz8|z8|\n", "it has no notes"),
    "two tunes": (REEL + "\n" + SCALE, "holds 2 tunes"),
}


@pytest.mark.parametrize(("text", "reason"), BAD_TUNES.values(), ids=BAD_TUNES.keys())
def test_bad_tunes_raise_value_error_naming_the_title(tmp_path, capsys, text, reason):
    destination = tmp_path / "out" / "bad.mid"
    with pytest.raises(
        ValueError, match=f"^Could not turn this tune.* into MIDI: .*{reason}"
    ) as raised:
        tune_to_midi(text, destination)
    if "\nT:" in text:
        title = text.split("\nT:")[1].split("\n")[0]
        assert f'this tune ("{title}")' in str(raised.value)
    assert files_in(tmp_path) == []
    assert capsys.readouterr().out == ""


def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    def write_half_then_fail(self, path):
        with open(path, "wb") as out:
            out.write(b"MThd")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pretty_midi.PrettyMIDI, "write", write_half_then_fail)
    with pytest.raises(ValueError, match=r'"Test Reel"\) into MIDI: RuntimeError: disk on fire'):
        tune_to_midi(REEL, tmp_path / "reel.mid")
    assert files_in(tmp_path) == []


def test_the_error_names_the_tune_title(tmp_path):
    with pytest.raises(ValueError, match=r'this tune \("Headless"\) into MIDI'):
        tune_to_midi("X:1\nT:Headless\nK:D\nDEFG|", tmp_path / "h.mid")


def test_the_title_is_found_in_windows_line_endings(tmp_path):
    text = "X:1\r\nT: Headless \r\nK:D\r\nDEFG|\r\n"
    with pytest.raises(ValueError, match=r'this tune \("Headless"\) into MIDI'):
        tune_to_midi(text, tmp_path / "h.mid")


def test_tune_to_midi_wants_text(tmp_path):
    with pytest.raises(TypeError, match="ABC notation as a str"):
        tune_to_midi(b"X:1", tmp_path / "b.mid")


def test_text_that_looks_like_a_path_is_not_read_as_a_file(tmp_path, monkeypatch):
    (tmp_path / "tune.abc").write_text(REEL)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="Could not turn this tune"):
        tune_to_midi("tune.abc", tmp_path / "x.mid")


# ## midi_to_wav


def test_midi_to_wav_writes_16_bit_mono_audio_as_long_as_the_tune(tmp_path):
    midi = tune_to_midi(REEL, tmp_path / "reel.mid")
    path = midi_to_wav(midi, tmp_path / "wav" / "reel.wav", fs=8000)
    assert path == tmp_path / "wav" / "reel.wav"
    rate, width, channels, samples = read_wav(path)
    assert (rate, width, channels) == (8000, 2, 1)
    assert len(samples) / rate == pytest.approx(REEL_SECONDS + 0.5, abs=0.01)
    assert 20 * np.log10(np.sqrt(np.mean((samples / 32767.0) ** 2))) == pytest.approx(-20, abs=0.1)
    assert np.abs(samples).max() < 0.98 * 32767
    first_note = samples[: rate // 8].astype(float)  # the first eighth note, D4
    assert np.sqrt(np.mean(first_note**2)) > 0.05 * 32767
    assert files_in(tmp_path / "wav") == ["reel.wav"]


def test_the_first_note_sounds_at_its_pitch(tmp_path):
    if audio._soundfont() is not None:
        pytest.skip("FluidSynth's piano has strong overtones; the sine check is for the fallback")
    midi = tune_to_midi(REEL, tmp_path / "reel.mid")
    rate, _, _, samples = read_wav(midi_to_wav(midi, tmp_path / "reel.wav", fs=16000))
    first_note = samples[: rate // 8].astype(float)  # 0.125 s: 8 Hz resolution
    spectrum = np.abs(np.fft.rfft(first_note))
    peak_hz = np.fft.rfftfreq(len(first_note), 1 / rate)[spectrum.argmax()]
    assert peak_hz == pytest.approx(D4_HZ, abs=8)


def test_midi_to_wav_plays_a_decoded_token_file(tmp_path):
    midi = notes_to_midi([(69, 1.0), ("rest", 1.0), (72, 2.0)], tmp_path / "t.mid", tempo=60)
    rate, _, _, samples = read_wav(midi_to_wav(midi, tmp_path / "t.wav", fs=8000))
    assert len(samples) == (4 + 0.5) * rate
    assert np.abs(samples[int(1.2 * rate) : int(1.8 * rate)]).max() == 0  # the rest is silent


def test_midi_to_wav_falls_back_when_fluidsynth_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(audio, "_soundfont", lambda: None)
    midi = tune_to_midi(SCALE, tmp_path / "s.mid")
    rate, _, _, samples = read_wav(midi_to_wav(midi, tmp_path / "s.wav", fs=8000))
    assert len(samples) == np.ceil((SCALE_SECONDS + 0.5) * rate) and np.abs(samples).max() > 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a midi file", "is not a readable MIDI file"),
        (b"", "is not a readable MIDI file"),
        ("no instruments", "has no notes"),
        ("drums only", "is silent"),
    ],
)
def test_midi_to_wav_rejects_unplayable_files(tmp_path, content, message):
    source = tmp_path / "in.mid"
    if content == "no instruments":
        pretty_midi.PrettyMIDI().write(str(source))
    elif content == "drums only":
        if audio._soundfont() is not None:
            pytest.skip("FluidSynth plays drums")
        song = pretty_midi.PrettyMIDI()
        kit = pretty_midi.Instrument(0, is_drum=True)
        kit.notes.append(pretty_midi.Note(100, 38, 0.0, 0.5))
        song.instruments.append(kit)
        song.write(str(source))
    else:
        source.write_bytes(content)
    with pytest.raises(ValueError, match=f"in.mid {message}"):
        midi_to_wav(source, tmp_path / "out" / "in.wav")
    assert files_in(tmp_path) == ["in.mid"]


@pytest.mark.parametrize("fs", [0, 100, 16000.0, True, 10**6])
def test_midi_to_wav_checks_the_sample_rate(tmp_path, fs):
    midi = tune_to_midi(SCALE, tmp_path / "s.mid")
    with pytest.raises(ValueError, match="fs must be a sample rate in Hz"):
        midi_to_wav(midi, tmp_path / "s.wav", fs=fs)
    assert files_in(tmp_path) == ["s.mid"]


# ## play


def test_play_abc_text_returns_an_audio_player(private_tmp):
    player = play(REEL, fs=8000)
    from IPython.display import Audio

    assert isinstance(player, Audio)
    rate, width, channels, samples = read_wav(player.data)
    assert (rate, width, channels) == (8000, 2, 1)
    assert len(samples) / rate == pytest.approx(REEL_SECONDS + 0.5, abs=0.01)
    assert 0.2 * 32767 < np.abs(samples).max() < 0.98 * 32767
    assert player.tempo.quarter_notes_per_minute == 220
    assert player.caption.startswith("Test Reel: 110 half notes a minute (reels and hornpipes")
    assert "<audio" in player._repr_html_() and "110 half notes a minute" in player._repr_html_()
    assert files_in(private_tmp) == [] and list(private_tmp.iterdir()) == []


def test_play_files_of_every_kind(tmp_path, private_tmp):
    abc = tmp_path / "scale.abc"
    abc.write_text(SCALE)
    midi = tune_to_midi(SCALE, tmp_path / "scale.mid")
    wav = midi_to_wav(midi, tmp_path / "scale.wav", fs=11025)
    upper = tmp_path / "SCALE.MID"
    upper.write_bytes(midi.read_bytes())
    played = {}
    for source in [abc, str(abc), midi, str(midi), str(upper), wav, str(wav)]:
        rate, _, _, samples = read_wav(play(source, fs=8000).data)
        played[str(source)] = (rate, len(samples) / rate)
    expected = (8000, pytest.approx(SCALE_SECONDS + 0.5, abs=1e-3))
    assert played[str(abc)] == played[str(midi)] == played[str(upper)] == expected
    assert played[str(wav)] == (11025, pytest.approx(SCALE_SECONDS + 0.5, abs=1e-3))
    assert list(private_tmp.iterdir()) == []


def test_play_a_wav_file_keeps_its_samples(tmp_path):
    midi = tune_to_midi(SCALE, tmp_path / "scale.mid")
    wav = midi_to_wav(midi, tmp_path / "scale.wav", fs=8000)
    _, _, _, original = read_wav(wav)
    _, _, _, played = read_wav(play(wav).data)
    assert np.abs(original.astype(int) - played).max() <= 1


def test_play_raises_instead_of_doing_nothing(tmp_path, private_tmp):
    with pytest.raises(ValueError, match=r'Could not turn this tune \("Silence"\)'):
        play("X:1\nT:Silence\nM:4/4\nL:1/8\nK:D\n")
    with pytest.raises(FileNotFoundError, match="missing.mid"):
        play(str(tmp_path / "missing.mid"))
    (tmp_path / "notes.txt").write_text(SCALE)
    with pytest.raises(ValueError, match="expected a file ending in .mid"):
        play(tmp_path / "notes.txt")
    (tmp_path / "fake.wav").write_text("RIFF? no.")
    with pytest.raises(ValueError, match="fake.wav is not a readable PCM WAV file"):
        play(tmp_path / "fake.wav")
    with pytest.raises(TypeError, match="ABC text or a path"):
        play(42)
    assert list(private_tmp.iterdir()) == []


# ## Tunes that sound like tunes: session tempi, repeats, a fiddle at -20 dBFS

# A 32-bar reel as played: two 8-bar parts, each repeated; the second part has no |: of its
# own, as ABC tunes are often written (a player repeats it alone, from the previous :|).
SESSION_REEL = """X:3
T:Session Reel
M:C|
L:1/8
K:D
|:A2FA dAFA|B2GB dBGB|A2FA dAFA|BcdB A2FE|A2FA dAFA|B2GB dBGB|AFAd fedB|AFEF D4:|
fdd2 fdaf|gee2 gfed|fdd2 fdaf|gefd e2dB|fdd2 fdaf|gee2 gfed|faaf gfed|BcdB A4:|
"""
# 32 bars of 2/2 at 110 half notes a minute.
SESSION_REEL_SECONDS = 32 * 2 * 60 / 110


def played_seconds(text, **kwargs):
    with tempfile.TemporaryDirectory() as folder:
        path = tune_to_midi(text, Path(folder) / "t.mid", **kwargs)
        return pretty_midi.PrettyMIDI(str(path)).get_end_time()


def harmonic_share(samples, rate, hz):
    """Share of the energy of `samples` near the 2nd to 6th harmonics of `hz` (+/- 15 Hz)."""
    power = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    near = lambda k: np.abs(freqs - k * hz) < 15  # noqa: E731
    return power[np.any([near(k) for k in range(2, 7)], axis=0)].sum() / power.sum()


def test_a_reel_lasts_32_bars_at_session_tempo_with_both_parts_repeated(private_tmp):
    player = play(SESSION_REEL, fs=16000)
    rate, _, _, samples = read_wav(player.data)
    assert len(samples) / rate == pytest.approx(SESSION_REEL_SECONDS + 0.5, abs=0.01)
    assert 34.8 < SESSION_REEL_SECONDS < 35.0  # 32 bars as played
    audio = samples / 32767.0
    assert 20 * np.log10(np.sqrt(np.mean(audio**2))) == pytest.approx(-20, abs=0.1)
    assert np.abs(audio).max() < 0.98  # no clipping
    assert "110 half notes a minute" in player.caption and "34.9 s of music" in player.caption


def test_the_fiddle_is_not_a_sine(tmp_path):
    # A4 held for two beats: a fiddle has harmonics, a sine has none.
    midi = notes_to_midi([(69, 2.0)], tmp_path / "a.mid", tempo=60)
    fiddle = read_wav(midi_to_wav(midi, tmp_path / "f.wav", timbre="fiddle"))[3] / 32767.0
    whistle = read_wav(midi_to_wav(midi, tmp_path / "w.wav", timbre="whistle"))[3] / 32767.0
    t = np.arange(16000) / 16000
    sine = np.sin(2 * np.pi * 440 * t)
    assert harmonic_share(fiddle[:16000], 16000, 440) > 0.3
    assert 0.005 < harmonic_share(whistle[:16000], 16000, 440) < 0.1
    assert harmonic_share(sine, 16000, 440) < 1e-6


@pytest.mark.parametrize(
    ("meter", "bar", "beats_a_bar", "beats_a_minute"),
    [
        ("C|", "A2FA dAFA", 2, 110),  # reel: half notes
        ("4/4", "A2FA dAFA", 2, 110),
        ("6/8", "AFA dAF", 2, 120),  # jig: dotted quarters
        ("9/8", "AFA dAF GBd", 3, 120),  # slip jig: dotted quarters
        ("2/4", "AF dA", 2, 130),  # polka: quarter notes
        ("3/4", "A2 d2 f2", 3, 120),  # waltz: quarter notes
    ],
)
def test_each_meter_plays_at_its_session_tempo(meter, bar, beats_a_bar, beats_a_minute):
    tune = f"X:1\nT:T\nM:{meter}\nL:1/8\nK:D\n|{bar}|{bar}|{bar}|{bar}|\n"
    expected = 4 * beats_a_bar * 60 / beats_a_minute
    assert played_seconds(tune) == pytest.approx(expected, rel=1e-3)


def test_a_q_header_wins_and_tempo_overrides_it():
    reel = SESSION_REEL.replace("K:D", "Q:1/2=55\nK:D")  # half the session tempo
    assert played_seconds(reel) == pytest.approx(2 * SESSION_REEL_SECONDS, rel=1e-3)
    jig = "X:1\nT:J\nM:6/8\nL:1/8\nQ:3/8=90\nK:G\n|GAB dBG|GAB dBG|GAB dBG|GAB d3|\n"
    assert played_seconds(jig) == pytest.approx(8 * 60 / 90, rel=1e-3)
    assert played_seconds(jig, tempo=120) == pytest.approx(8 * 60 / 120, rel=1e-3)
    assert played_seconds(SESSION_REEL, tempo=55) == pytest.approx(
        2 * SESSION_REEL_SECONDS, rel=1e-3
    )
    player = play(reel, fs=8000)
    assert str(player.tempo) == "55 half notes a minute (the tune's Q:1/2=55)"


@pytest.mark.parametrize("tempo", [0, -10, float("nan"), "fast", True])
def test_a_bad_tempo_says_what_was_expected(tmp_path, tempo):
    with pytest.raises(ValueError, match="tempo must be a positive number of beats a minute"):
        tune_to_midi(SESSION_REEL, tmp_path / "r.mid", tempo=tempo)
    assert files_in(tmp_path) == []


def test_tempo_is_refused_for_files_that_have_their_own(tmp_path):
    midi = tune_to_midi(SCALE, tmp_path / "s.mid")
    with pytest.raises(ValueError, match="a MIDI file plays at its own tempo"):
        play(midi, tempo=100)
    with pytest.raises(ValueError, match="timbre must be one of"):
        play(midi, timbre="bagpipes")


def test_bars_and_key_are_kept_in_the_midi_file(tmp_path):
    jig = "X:1\nT:J\nM:6/8\nL:1/8\nK:F\nA|:FAc fcA|GBd gdB|FAc fcA|GBd c2:|\n"
    midi = pretty_midi.PrettyMIDI(str(tune_to_midi(jig, tmp_path / "j.mid")))
    signatures = [(s.numerator, s.denominator) for s in midi.time_signature_changes]
    assert signatures[:3] == [(1, 8), (6, 8), (5, 8)]  # the pickup, the bars, the short last bar
    assert midi.time_signature_changes[1].time == pytest.approx(0.5 / 3)  # an eighth at 180/min
    assert [k.key_number for k in midi.key_signature_changes] == [5]  # F major
    velocities = [n.velocity for n in midi.instruments[0].notes[1:7]]
    assert velocities == [110, 80, 80, 95, 80, 80]  # downbeat, between beats, beat 2


# ## Importing stays cheap


def test_importing_the_modules_loads_no_heavy_library():
    code = (
        "import sys, mitdeeplearning.music.audio, mitdeeplearning.music.midi\n"
        "import mitdeeplearning.music.piano_roll\n"
        "print(sorted(m for m in ('music21', 'pretty_midi', 'matplotlib', 'IPython', 'numpy')"
        " if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_package_exports_the_functions_lazily():
    import mitdeeplearning.music as music

    assert music.play is play
    assert music.tune_to_midi is tune_to_midi and music.midi_to_wav is midi_to_wav


def test_tunes_music21_cannot_write_still_become_midi(tmp_path):
    # Regression: music21's MIDI writer raised "TimeSignature ... is already found in this
    # Stream" for about 1 in 10 of O'Neill's tunes (the first one among them), so play() failed
    # on real tunes. The notes music21 parsed are now written with pretty_midi instead.
    from mitdeeplearning.music import load_tunes

    tune = load_tunes("oneills1850", limit=1)[0]
    midi = pretty_midi.PrettyMIDI(str(tune_to_midi(tune, tmp_path / "enchanted.mid")))
    notes = midi.instruments[0].notes
    assert len(notes) > 100  # 16 bars with the repeat played out
    assert {n.pitch for n in notes} >= {67, 69, 70}  # G minor: G, A, B flat
    assert 15 < midi.get_end_time() < 60


# ## The module itself


def test_plot_piano_roll_still_imports_from_here_with_a_warning(monkeypatch):
    from mitdeeplearning.music.piano_roll import plot_piano_roll

    monkeypatch.setattr(_lazy, "_warned", set())
    with pytest.warns(FutureWarning, match=r"audio\.plot_piano_roll has been renamed .*piano_roll"):
        assert audio.plot_piano_roll is plot_piano_roll


def test_read_abc_file_moved_to_abc_and_still_imports_from_here_with_a_warning(monkeypatch):
    from mitdeeplearning.music.abc import read_abc_file

    monkeypatch.setattr(_lazy, "_warned", set())
    with pytest.warns(FutureWarning, match=r"audio\.read_abc_file has been renamed .*abc\.read"):
        assert audio.read_abc_file is read_abc_file
