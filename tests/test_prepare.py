"""prepare: splits, damaged inputs, time limits, dead workers, the cache, PreparedData."""

import dataclasses
import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from note_seq import midi_io
from note_seq.protobuf import music_pb2

from zoo.data import parallel
from zoo.data.bl2012 import frames_to_sequence
from zoo.data.prepare import prepare, split_of
from zoo.data.prepared import PreparedData
from zoo.data.sources import MidiDirSource
from zoo.errors import SkipPiece, ZooError


@dataclasses.dataclass(frozen=True)
class PitchCodec:
    """A tiny token codec: one id per note, pitch + 2."""

    name: str = "pitches"
    kind = "tokens"
    vocab_size = 130

    def encode(self, ns):
        if not ns.notes:
            raise SkipPiece("no notes")
        return np.array([n.pitch + 2 for n in ns.notes], np.int32)

    def params(self):
        return {}


@dataclasses.dataclass(frozen=True)
class RollCodec:
    """A tiny piano roll: one frame per 0.5 s (a quarter at 120 qpm), 128 keys."""

    name: str = "roll"
    kind = "frames"
    vocab_size = 128

    def encode(self, ns):
        frames = np.zeros((round(max(n.end_time for n in ns.notes) / 0.5), 128), np.uint8)
        for n in ns.notes:
            frames[round(n.start_time / 0.5) : round(n.end_time / 0.5), n.pitch] = 1
        return frames

    def params(self):
        return {}


def sequence(pitches, step=0.25):
    ns = music_pb2.NoteSequence(ticks_per_quarter=220)
    ns.tempos.add(qpm=120)
    for i, p in enumerate(pitches):
        ns.notes.add(pitch=p, velocity=80, start_time=i * step, end_time=(i + 1) * step)
    ns.total_time = len(pitches) * step
    return ns


def midi_folder(root, n_good=6):
    """n_good good MIDI files (in a subfolder too) and five damaged ones; returns the good ids."""
    (root / "sub").mkdir(parents=True)
    good = [f"sub/song{i}.mid" if i % 2 else f"song{i}.mid" for i in range(n_good)]
    for i, rel in enumerate(good):
        midi_io.note_sequence_to_midi_file(sequence([60 + i, 62, 64 + i]), root / rel)
    data = (root / good[0]).read_bytes()
    (root / "empty.mid").write_bytes(b"")
    (root / "truncated.mid").write_bytes(data[: len(data) // 2])
    (root / "noise.midi").write_bytes(np.random.default_rng(0).bytes(500))
    midi_io.note_sequence_to_midi_file(music_pb2.NoteSequence(), root / "silent.mid")
    (root / "readme.txt").write_text("not a MIDI file, not an input")
    return good


def load_all(directory):
    data = PreparedData(directory)
    return {pid: (name, np.asarray(split[i])) for name in data.split_names
            for split in [data.split(name)] for i, pid in enumerate(split.ids)}


def test_split_of_is_a_stable_80_10_10_hash():
    ids = [f"book/tune/{i}" for i in range(20000)]
    splits = [split_of(i) for i in ids]
    assert split_of("bach/bwv1.6") == split_of("bach/bwv1.6")
    shares = {s: splits.count(s) / len(ids) for s in ("train", "valid", "test")}
    assert shares["train"] == pytest.approx(0.8, abs=0.01)
    assert shares["valid"] == pytest.approx(0.1, abs=0.01)


def test_damaged_midi_files_are_skipped_with_reasons(tmp_path):
    good = midi_folder(tmp_path / "midi")
    lines = []
    out = prepare("midi-dir", tmp_path / "midi", PitchCodec(), out=tmp_path / "ds", workers=2,
                  echo=lines.append)
    prepared = load_all(out)
    assert sorted(prepared) == sorted(good)
    for rel, (split, ids) in prepared.items():
        assert split == split_of(rel) and ids.dtype == np.int32 and len(ids) == 3
    skipped = {}
    for line in (out / "skipped.jsonl").read_text().splitlines():
        entry = json.loads(line)
        skipped[entry["input"]] = entry["reason"]
    assert sorted(skipped) == ["empty.mid", "noise.midi", "silent.mid", "truncated.mid"]
    assert skipped["silent.mid"] == "no notes"
    assert skipped["empty.mid"] == "empty file (0 bytes)"
    assert skipped["truncated.mid"].startswith("file ends early (probably truncated)")
    assert skipped["noise.midi"].startswith("not a MIDI file: no MThd header")
    raws = {json.loads(line)["input"]: json.loads(line).get("raw")
            for line in (out / "skipped.jsonl").read_text().splitlines()}
    assert raws["truncated.mid"].startswith("note-seq: MIDIConversionError: Midi decoding error")
    assert raws["silent.mid"] is None
    assert f"skipped empty.mid: {skipped['empty.mid']}" in lines
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["codec"] == {"name": "pitches", "params": {}}
    assert sum(s["pieces"] for s in manifest["splits"].values()) == len(good)
    assert sum(manifest["skipped"].values()) == 4 and manifest["inputs"] == 10
    assert manifest["readers"] == {"symusic": len(good)}


def test_adding_a_file_moves_no_other_piece(tmp_path):
    midi_folder(tmp_path / "midi")
    before = load_all(prepare("midi-dir", tmp_path / "midi", PitchCodec(), workers=0,
                              out=tmp_path / "a", echo=lambda s: None))
    midi_io.note_sequence_to_midi_file(sequence([70, 71]), tmp_path / "midi" / "sub" / "new.mid")
    after = load_all(prepare("midi-dir", tmp_path / "midi", PitchCodec(), workers=0,
                             out=tmp_path / "b", echo=lambda s: None))
    assert set(after) == set(before) | {"sub/new.mid"}
    for pid, (split, ids) in before.items():
        assert after[pid][0] == split and np.array_equal(after[pid][1], ids)


def test_second_prepare_reuses_the_cache(tmp_path, monkeypatch):
    midi_folder(tmp_path / "midi")
    monkeypatch.chdir(tmp_path)
    first = prepare("midi-dir", "midi", PitchCodec(), workers=0, echo=lambda s: None)
    assert first.parent == Path("datasets/cache") and first.name.startswith("midi-dir-pitches-")
    lines = []
    started = time.perf_counter()
    assert prepare("midi-dir", "midi", PitchCodec(), workers=0, echo=lines.append) == first
    assert time.perf_counter() - started < 1.0 and lines[0].startswith(f"reusing {first}")
    lines.clear()
    prepare("midi-dir", "midi", PitchCodec(), workers=0, force=True, echo=lines.append)
    assert any(line.startswith("prepared midi-dir with pitches in") for line in lines)
    assert not [p for p in first.parent.iterdir()  # no temporary left (the lock file stays)
                if p.name.startswith(".") and not p.name.endswith(".lock")]


def test_a_slow_file_times_out(tmp_path, monkeypatch):
    good = midi_folder(tmp_path / "midi", n_good=2)
    read = MidiDirSource.read

    def slow_read(self, rel):
        if rel == good[1]:
            time.sleep(5)
        return read(self, rel)

    monkeypatch.setattr(MidiDirSource, "read", slow_read)
    lines = []
    started = time.perf_counter()
    out = prepare("midi-dir", tmp_path / "midi", PitchCodec(), out=tmp_path / "ds", workers=0,
                  time_limit=1, echo=lines.append)
    assert time.perf_counter() - started < 4
    assert f"skipped {good[1]}: timed out after 1 s" in lines
    assert list(load_all(out)) == [good[0]]


@dataclasses.dataclass(frozen=True)
class SlowCodec(PitchCodec):
    def encode(self, ns):
        if ns.notes[0].pitch == 61:
            time.sleep(5)
        return super().encode(ns)


def test_the_time_limit_is_per_file_even_inside_per_piece_handlers(tmp_path):
    good = midi_folder(tmp_path / "midi", n_good=2)
    lines = []
    out = prepare("midi-dir", tmp_path / "midi", SlowCodec(), out=tmp_path / "ds", workers=0,
                  time_limit=1, echo=lines.append)
    assert f"skipped {good[1]}: timed out after 1 s" in lines
    assert list(load_all(out)) == [good[0]]


def test_nothing_to_prepare_is_an_error(tmp_path):
    with pytest.raises(ZooError, match="does not exist"):
        prepare("midi-dir", tmp_path / "nowhere", PitchCodec(), workers=0)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.mid").write_bytes(b"junk")
    with pytest.raises(ZooError, match="1 inputs was skipped: 1 x file ends early"):
        prepare("midi-dir", tmp_path / "bad", PitchCodec(), out=tmp_path / "ds", workers=0,
                echo=lambda s: None)
    assert not (tmp_path / "ds").exists()


def test_out_that_is_not_a_data_set_is_left_alone(tmp_path):
    midi_folder(tmp_path / "midi", n_good=1)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(ZooError, match="not a prepared data set"):
        prepare("midi-dir", tmp_path / "midi", PitchCodec(), out=tmp_path / "mine", workers=0)


def test_bl2012_frames_come_back_exactly(tmp_path):
    rng = np.random.default_rng(1)
    rolls = {s: [[sorted(set(rng.integers(40, 80, rng.integers(1, 4)).tolist()))
                  for _ in range(rng.integers(3, 12))] for _ in range(n)]
             for s, n in (("train", 8), ("valid", 2), ("test", 3))}
    (tmp_path / "jsb.json").write_text(json.dumps(rolls))
    out = prepare("bl2012", tmp_path / "jsb.json", RollCodec(), out=tmp_path / "ds", workers=0,
                  echo=lambda s: None)
    prepared = load_all(out)
    assert len(prepared) == 13
    for split, seqs in rolls.items():
        for i, frames in enumerate(seqs):
            got_split, got = prepared[f"{split}/{i:04d}"]
            assert got_split == split and got.dtype == np.uint8 and got.shape == (len(frames), 128)
            assert [np.flatnonzero(f).tolist() for f in got] == frames


def test_pianoroll_codec_gives_bl2012_frames_back():
    from zoo.codecs import get_codec

    codec = get_codec("pianoroll", min_pitch=21, max_pitch=108, steps_per_quarter=1)
    frames = [[60, 64], [60, 64], [60], [], [62, 67], [62]]
    roll = codec.encode(frames_to_sequence(frames))
    assert [(np.flatnonzero(f) + 21).tolist() for f in roll] == frames


def test_prepared_data_errors(tmp_path):
    with pytest.raises(ZooError, match=f"no prepared data set at {tmp_path / 'x'}.*zoo prepare"):
        PreparedData(tmp_path / "x")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "manifest.json").write_text(json.dumps({"format": 0}))
    with pytest.raises(ZooError, match="format 0"):
        PreparedData(tmp_path / "old")


def test_prepared_data_rebuilds_its_codec(tmp_path):
    from zoo.codecs import get_codec

    midi_folder(tmp_path / "midi", n_good=4)
    out = prepare("midi-dir", tmp_path / "midi", get_codec("performance"), out=tmp_path / "ds",
                  workers=0, echo=lambda s: None)
    data = PreparedData(out)
    assert data.codec == get_codec("performance")
    train = data.split("train")
    assert len(train) and train.num_events == sum(len(train[i]) for i in range(len(train)))
    assert np.array_equal(train[0], data.codec.encode(data.codec.decode(train[0])))
    with pytest.raises(ZooError, match="no split 'dev'"):
        data.split("dev")


def _die_or_hang(x):
    if x == 3:
        os._exit(7)
    if x == 5:  # stuck where the alarm cannot reach it (as in C code): killed from outside
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
        time.sleep(60)
    return x * 10


def test_a_dying_or_stuck_worker_costs_only_its_input(monkeypatch):
    monkeypatch.setattr(parallel, "_GRACE_S", 1.0)
    outcomes = sorted(parallel.run(_die_or_hang, range(8), workers=2, seconds=1))
    assert outcomes[3] == (3, None, "worker process died (exit code 7)")
    assert outcomes[5] == (5, None, "timed out after 1 s (worker killed)")
    assert [r for i, r, _ in outcomes if i not in (3, 5)] == [0, 10, 20, 40, 60, 70]


def _files(directory):
    """Every file of a data set but the manifest's timing, as bytes."""
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest.pop("seconds")
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.name != "manifest.json"
            } | {"manifest": {k: v for k, v in manifest.items() if k != "files"}}


class _Killed(BaseException):
    """Passes every ``except Exception``, as a SIGKILL would stop the run there."""


def test_a_killed_prepare_resumes_from_its_shards(tmp_path, monkeypatch):
    from zoo.data import prepare as prepare_module

    good = midi_folder(tmp_path / "midi", n_good=8)
    whole = prepare("midi-dir", tmp_path / "midi", PitchCodec(), out=tmp_path / "whole",
                    workers=0, echo=lambda s: None)
    monkeypatch.setattr(prepare_module, "SHARD_INPUTS", 3)
    read, calls, kills = MidiDirSource.read, [], [good[5]]

    def killed_at(self, rel):
        calls.append(rel)
        if rel in kills:
            kills.remove(rel)
            raise _Killed  # as a kill: nothing after this input is written
        return read(self, rel)

    monkeypatch.setattr(MidiDirSource, "read", killed_at)
    with pytest.raises(_Killed):
        prepare("midi-dir", tmp_path / "midi", PitchCodec(), out=tmp_path / "ds", workers=0,
                echo=lambda s: None)
    assert not (tmp_path / "ds").exists()
    inputs = MidiDirSource(tmp_path / "midi").inputs()
    assert (len(inputs), inputs.index(good[5])) == (12, 9)  # killed in the fourth shard
    assert sorted(p.name for p in (tmp_path / ".ds.work").iterdir()) == [
        *[f"shard-00000{k}.{ext}" for k in range(3) for ext in ("json", "npz")], "work.json"]
    calls.clear()
    lines = []
    out = prepare("midi-dir", tmp_path / "midi", PitchCodec(), out=tmp_path / "ds", workers=0,
                  echo=lines.append)
    assert lines[0].startswith("resuming: 9 of 12 inputs were read by an earlier run")
    assert calls == inputs[9:] and not (tmp_path / ".ds.work").exists()
    assert _files(out) == _files(whole)


def test_identical_pieces_are_kept_once(tmp_path):
    good = midi_folder(tmp_path / "midi", n_good=3)
    copy = tmp_path / "midi" / "sub" / "copy of song0.mid"
    copy.write_bytes((tmp_path / "midi" / good[0]).read_bytes())
    out = prepare("midi-dir", tmp_path / "midi", PitchCodec(), out=tmp_path / "ds", workers=0,
                  echo=lambda s: None)
    assert sorted(load_all(out)) == sorted(good)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["duplicates"] == 1
    entries = [json.loads(line) for line in (out / "skipped.jsonl").read_text().splitlines()]
    assert {"input": "sub/copy of song0.mid", "of": good[0],
            "reason": "duplicate of an earlier piece (the same events)"} in entries
