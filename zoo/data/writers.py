"""Write generated NoteSequences as MIDI files and piano-roll PNGs."""

from __future__ import annotations

from pathlib import Path

import note_seq
from note_seq.protobuf import music_pb2

TRACK_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


def write_midi(ns: music_pb2.NoteSequence, path: Path) -> Path:
    note_seq.sequence_proto_to_midi_file(ns, str(path))
    return Path(path)


def write_pianoroll_png(ns: music_pb2.NoteSequence, path: Path, title: str = "") -> Path:
    """Notes as bars (x: seconds, y: MIDI pitch), one colour per instrument (track)."""
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
    ax.set_xlim(0, max(ns.total_time, 1.0))
    ax.set_ylim(min(pitches) - 2, max(pitches) + 2)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(title or f"{len(ns.notes)} notes, {ns.total_time:.1f} s")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
