"""Write generated NoteSequences as MIDI files and piano-roll PNGs (note-name pitch axis, bar
lines from the time signatures, one colour per track)."""

from __future__ import annotations

from pathlib import Path

import note_seq
from note_seq.protobuf import music_pb2

from zoo.data.audio import DEFAULT_SAMPLE_RATE, AudioUnavailable, write_wav
from zoo.data.pages import PagePiece, write_index

TRACK_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


def write_midi(ns: music_pb2.NoteSequence, path: Path) -> Path:
    note_seq.sequence_proto_to_midi_file(ns, str(path))
    return Path(path)


NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def note_name(pitch: int) -> str:
    """MIDI pitch -> scientific pitch name: 60 -> C4, 61 -> C#4, 21 -> A0."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def bar_times(ns: music_pb2.NoteSequence, until: float) -> list[float]:
    """Start times (s) of the bars up to ``until``, from the sequence's time signatures and
    tempos (4/4 and 120 qpm where it has none); a change of signature starts a new bar."""
    tempos = sorted(((t.time, t.qpm) for t in ns.tempos), key=lambda t: t[0]) or [(0.0, 120.0)]
    if tempos[0][0] > 0:
        tempos.insert(0, (0.0, 120.0))
    signatures = sorted(((s.time, s.numerator, s.denominator) for s in ns.time_signatures),
                        key=lambda s: s[0]) or [(0.0, 4, 4)]
    if signatures[0][0] > 0:
        signatures.insert(0, (0.0, 4, 4))

    def qpm_at(t: float) -> float:
        return [q for time, q in tempos if time <= t + 1e-9][-1]

    bars, t = [], 0.0
    for k, (s_time, num, den) in enumerate(signatures):
        end = signatures[k + 1][0] if k + 1 < len(signatures) else until
        t = max(t, s_time)
        quarters = num * 4.0 / den
        while t < min(end, until) - 1e-6 and len(bars) < 10_000:
            bars.append(t)
            t += quarters * 60.0 / qpm_at(t)
    return bars


def track_label(ns: music_pb2.NoteSequence, instrument: int) -> str:
    """'drums' or the General MIDI program of the track, e.g. 'track 1: program 0'."""
    notes = [n for n in ns.notes if n.instrument == instrument]
    if notes and notes[0].is_drum:
        return f"track {instrument}: drums"
    return f"track {instrument}: program {notes[0].program if notes else 0}"


def write_pianoroll_png(ns: music_pb2.NoteSequence, path: Path, title: str = "") -> Path:
    """Notes as bars (x: seconds, y: pitch named C4, C#4, ...), one colour per track (legend),
    opacity by velocity, thin lines at bar starts from the time signatures and tempos."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.5), dpi=100)
    tracks = sorted({n.instrument for n in ns.notes})
    for n in ns.notes:
        colour = TRACK_COLOURS[tracks.index(n.instrument) % len(TRACK_COLOURS)]
        ax.add_patch(matplotlib.patches.Rectangle(
            (n.start_time, n.pitch - 0.4), max(n.end_time - n.start_time, 0.01), 0.8,
            color=colour, alpha=0.35 + 0.65 * n.velocity / 127))
    pitches = [n.pitch for n in ns.notes] or [60]
    end = max(ns.total_time, max((n.end_time for n in ns.notes), default=0.0), 1.0)
    low, high = min(pitches) - 2, max(pitches) + 2
    for t in bar_times(ns, end):
        ax.axvline(t, color="#999999", linewidth=0.6, zorder=0)
    span = high - low
    step = 1 if span <= 16 else 2 if span <= 30 else 12
    first = low + (-low % step) if step < 12 else low + (-low % 12)
    ticks = list(range(int(first), int(high) + 1, step))
    ax.set_yticks(ticks, [note_name(p) for p in ticks])
    for c in range(int(low) + (-int(low) % 12), int(high) + 1, 12):
        ax.axhline(c, color="#dddddd", linewidth=0.5, zorder=0)  # every C
    ax.set_xlim(0, end)
    ax.set_ylim(low, high)
    ax.set_xlabel("time (s); grey lines: bars")
    ax.set_ylabel("pitch")
    if len(tracks) > 1:
        handles = [matplotlib.patches.Patch(color=TRACK_COLOURS[i % len(TRACK_COLOURS)],
                                            label=track_label(ns, tr))
                   for i, tr in enumerate(tracks)]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7)
    ax.set_title(title or f"{len(ns.notes)} notes, {ns.total_time:.1f} s")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def write_pieces(pieces, out: Path, title: str, wav: bool = False,
                 sample_rate: int = DEFAULT_SAMPLE_RATE, captions: list[str] | None = None,
                 table=None, notes: list[str] = (), figures: list[str] = (),
                 echo=print) -> list[Path]:
    """Write each NoteSequence of ``pieces`` into ``out`` (created) as sample_<i>.mid, its piano
    roll sample_<i>.png and, with ``wav``, sample_<i>.wav at ``sample_rate`` Hz; then
    ``index.html`` showing them (``table``, (header, rows), and ``figures`` above them). Every family's sampler
    writes through here. Without a renderer the WAVs are skipped with one line, the rest written.
    Returns the MIDI paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths, page = [], []
    for i, ns in enumerate(pieces):
        name = f"sample_{i}"
        midi = write_midi(ns, out / f"{name}.mid")
        write_pianoroll_png(ns, out / f"{name}.png", title=f"{title}, sample {i}")
        wav_name = None
        if wav:
            try:
                write_wav(ns, out / f"{name}.wav", sample_rate)
                wav_name = f"{name}.wav"
            except AudioUnavailable as e:
                echo(f"no WAV written: {e}")
                wav = False
        caption = captions[i] if captions else (
            f"{len(ns.notes)} notes, {ns.total_time:.1f} s")
        page.append(PagePiece(name, midi.name, f"{name}.png", wav_name, caption))
        paths.append(midi)
    write_index(out, title, page, table=table, notes=notes, figures=figures)
    return paths
