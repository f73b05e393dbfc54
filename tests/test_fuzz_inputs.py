"""Fuzzed MIDI, MusicXML and ABC bytes through preparation: every input ends as prepared pieces or
a skip with a reason, the good file beside them is always prepared, and nothing crashes or hangs."""

import json
from pathlib import Path

import note_seq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from note_seq.protobuf import music_pb2

from zoo.data.prepare import prepare
from zoo.data.sources import music21_corpus


def _good_midi() -> bytes:
    ns = music_pb2.NoteSequence(ticks_per_quarter=220)
    ns.tempos.add(qpm=120)
    for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72] * 8):
        ns.notes.add(pitch=p, start_time=i * 0.25, end_time=(i + 1) * 0.25, velocity=80)
    ns.total_time = 16.0
    path = "/tmp/_zoo_fuzz_good.mid"
    note_seq.sequence_proto_to_midi_file(ns, path)
    return Path(path).read_bytes()


GOOD = {
    "midi-dir": (".mid", _good_midi()),
    "embedded-chorales": (".mxl", (music21_corpus() / "bach" / "bwv1.6.mxl").read_bytes()),
    "embedded-folk": (".abc", b"X:1\nT:Scale\nM:4/4\nL:1/8\nK:C\n"
                      + b"CDEF GABc|cBAG FEDC|CEGc z4|CDEF GABc|cBAG FEDC|CEGc z4|"
                      + b"CDEF GABc|cBAG FEDC|c8|]\n"),
}


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """Truncated, bit-flipped, spliced or shuffled variants of a real file."""
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "noise"]))
    n = len(data)
    if kind == "truncate":
        return data[: draw(st.integers(0, n - 1))]
    if kind == "noise":
        return draw(st.binary(min_size=0, max_size=300))
    at = draw(st.integers(0, n - 1))
    if kind == "flip":
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
    if kind == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=40)) + data[at:]
    return data[:at] + data[at + draw(st.integers(1, 40)):]


@pytest.mark.parametrize("source", sorted(GOOD))
def test_fuzzed_inputs_never_stop_preparation(source, tmp_path_factory):
    suffix, good = GOOD[source]
    codec = "performance" if source != "embedded-folk" else "melody"

    @settings(max_examples=12, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(mutated(good), min_size=3, max_size=3))
    def check(bad_files):
        folder = tmp_path_factory.mktemp("fuzz")
        files = folder / "essenFolksong" if source == "embedded-folk" else folder  # a tunebook
        files.mkdir(exist_ok=True)
        (files / f"good{suffix}").write_bytes(good)
        for i, blob in enumerate(bad_files):
            (files / f"bad_{i}{suffix}").write_bytes(blob)
        out = prepare(source, folder, codec, out=folder / "prepared", workers=0,
                      time_limit=20, echo=lambda s: None)
        ids = [i for split in ("train", "valid", "test")
               for i in json.loads((out / f"{split}.ids.json").read_text())]
        skipped = [json.loads(line) for line in (out / "skipped.jsonl").read_text().splitlines()]
        assert any("good" in i for i in ids), ids
        for item in skipped:
            assert item["reason"].strip(), item
        # every damaged file is accounted for: prepared pieces or a skip naming it
        named = ids + [str(item["input"]) for item in skipped]
        for i in range(3):
            assert any(f"bad_{i}" in name for name in named), (i, named)

    check()
