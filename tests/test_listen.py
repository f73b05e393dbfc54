"""Listening and looking: WAV rendering with the General MIDI SoundFont (duration, not silent,
sample rate, drums, silence), the one-line fallback without a renderer, index.html, and the
piano roll's note names and bar lines."""

import wave

import numpy as np
import pytest
from conftest import check_index_html
from note_seq.protobuf import music_pb2

from zoo.data import audio
from zoo.data.audio import AudioUnavailable, render, resample, wav_info, write_wav
from zoo.data.writers import bar_times, note_name, write_pieces
from zoo.errors import ZooError


def _melody(qpm=120.0, pitches=(60, 64, 67, 72), beats=1.0, drums=False):
    ns = music_pb2.NoteSequence(ticks_per_quarter=220)
    ns.tempos.add(qpm=qpm)
    beat = 60.0 / qpm * beats
    for i, p in enumerate(pitches):
        ns.notes.add(pitch=p, start_time=i * beat, end_time=(i + 1) * beat, velocity=90,
                     is_drum=drums, instrument=9 if drums else 0)
    ns.total_time = len(pitches) * beat
    return ns


@pytest.mark.parametrize("rate", [16000, 22050, 44100])
def test_a_rendered_melody_lasts_as_long_as_the_piece_and_is_not_silent(tmp_path, rate):
    ns = _melody()  # four quarter notes at 120 qpm: 2.0 s
    path = write_wav(ns, tmp_path / "m.wav", sample_rate=rate)
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (rate, 2, 2)
    seconds, rms = wav_info(path)
    assert 2.0 <= seconds < 2.3
    assert rms > 0.005


def test_the_notes_sound_where_they_are_and_drums_render():
    ns = _melody(pitches=(60,), beats=1.0)
    ns.total_time = 2.0  # one note for 0.5 s, then silence to 2 s
    x = render(ns, 16000)
    assert len(x) == 32000
    loud = np.sqrt(np.mean(x[:8000] ** 2))
    assert loud > 0.005 and np.sqrt(np.mean(x[-8000:] ** 2)) < 0.05 * loud
    drums = render(_melody(pitches=(36, 38, 42, 46), drums=True), 16000)
    assert np.sqrt(np.mean(drums ** 2)) > 0.005
    empty = music_pb2.NoteSequence(total_time=1.5)
    assert np.all(render(empty, 8000) == 0) and len(render(empty, 8000)) == 12000


def test_resampling_keeps_a_tone_and_its_level():
    t = np.arange(48000) / 48000
    x = np.stack([np.sin(2 * np.pi * 440 * t)] * 2, axis=1)
    y = resample(x, 48000, 16000)
    assert y.shape == (16000, 2)
    spectrum = np.abs(np.fft.rfft(y[:, 0]))
    assert np.argmax(spectrum) == 440  # 1 s of audio: bin k is k Hz
    assert np.sqrt(np.mean(y ** 2)) == pytest.approx(np.sqrt(0.5), rel=1e-3)


def test_without_a_renderer_the_wav_is_skipped_in_one_line_and_the_rest_written(
        tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_SOUNDFONT", str(tmp_path / "missing.sf2"))
    with pytest.raises(AudioUnavailable, match="no SoundFont at .*missing.sf2"):
        write_wav(_melody(), tmp_path / "x.wav")
    monkeypatch.delenv("ZOO_SOUNDFONT")
    monkeypatch.setattr(audio.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(AudioUnavailable) as e:
        write_wav(_melody(), tmp_path / "x.wav")
    assert "pip install 'music-zoo[audio]'" in str(e.value) and "\n" not in str(e.value)
    said = []
    paths = write_pieces([_melody(), _melody(pitches=(62, 65))], tmp_path / "out", "t",
                         wav=True, echo=said.append)
    assert len(paths) == 2 and all(p.stat().st_size > 0 for p in paths)
    assert len(said) == 1 and said[0].startswith("no WAV written:")
    check_index_html(tmp_path / "out", 2, wav=False)
    with pytest.raises(ZooError, match="sample rate"):
        render(_melody(), 100)


def test_the_page_shows_every_piece_with_its_audio_and_escapes_text(tmp_path):
    pieces = [_melody(), _melody(pitches=(55, 57))]
    write_pieces(pieces, tmp_path, "a <title> & more", wav=True,
                 table=(["statistic", "data"], [["notes", "4.0 ± 0.0"]]), notes=["line one"])
    page = check_index_html(tmp_path, 2, wav=True)
    assert "a &lt;title&gt; &amp; more" in page and "<td>4.0 ± 0.0</td>" in page
    assert wav_info(tmp_path / "sample_1.wav")[0] == pytest.approx(1.0, abs=0.05)


def test_note_names_and_bar_lines():
    assert [note_name(p) for p in (21, 60, 61, 69, 127)] == ["A0", "C4", "C#4", "A4", "G9"]
    ns = _melody()
    assert bar_times(ns, 8.0) == pytest.approx([0.0, 2.0, 4.0, 6.0])  # 4/4 at 120 qpm
    ns = music_pb2.NoteSequence()
    ns.tempos.add(qpm=100)
    ns.time_signatures.add(numerator=3, denominator=4)
    assert bar_times(ns, 5.0) == pytest.approx([0.0, 1.8, 3.6])  # 3 beats of 0.6 s
    ns.time_signatures.add(time=3.6, numerator=6, denominator=8)  # 3 quarters a bar again
    ns.tempos.add(time=3.6, qpm=50)
    assert bar_times(ns, 9.0) == pytest.approx([0.0, 1.8, 3.6, 7.2])
