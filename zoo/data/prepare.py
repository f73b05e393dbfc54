"""`zoo prepare`: a source read, encoded by a codec and written as flat arrays, once.

    DIR/manifest.json          what was prepared from what, counts, skips by reason
    DIR/<split>.data.npy       tokens: int32 (N,), pieces end to end; frames: uint8 (N, P)
    DIR/<split>.offsets.npy    int64 (pieces + 1,): piece i is data[offsets[i]:offsets[i + 1]]
    DIR/<split>.ids.json       piece ids, in order
    DIR/skipped.jsonl          {"input", "reason"[, "raw"]} per skipped file, tune or piece

A piece's split is a hash of its id, so adding files never moves another piece. The default DIR
is named by a fingerprint of the inputs (names, sizes, mtimes), the codec and this code, so a
second run with nothing changed reuses it. Files are written to a temporary folder and renamed:
an interrupted run leaves no half data set. One `zoo prepare` of a data set runs at a time (a
second waits, then reuses it). The manifest records every file's size and SHA-256: a truncated or
altered file is named and prepared again here, and refused by ``PreparedData``.

Memory does not grow with the number of inputs: the workers' results are written, in input
order, to shards in ``.DIR.work/`` (every SHARD_INPUTS inputs or SHARD_EVENTS events), which
are then streamed into the split arrays one at a time. A killed run leaves its shards; the next
`zoo prepare` of the same inputs (same fingerprint, no --force) reads only the inputs after the
last complete shard and ends with the same files as an uninterrupted run. Sources that set
``dedup`` (midi-dir) keep a piece whose events equal an earlier piece's once: the
later ones are listed in skipped.jsonl as duplicates (``"of"``: the piece kept) and counted in
the manifest's ``duplicates``.

midi-dir with a codec of ``zoo.data.fast_encode.FAST`` (melody) skips the NoteSequence: a file
the fast reader takes is encoded from its arrays (the same ids and skips as ``codec.encode``;
``tests/test_midi_reader.py`` compares them file by file), the others take the usual path.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

import zoo
from zoo.codecs import Codec, get_codec
from zoo.data import fast_encode, parallel
from zoo.data.parallel import reason_of
from zoo.data.sources import Source, get_source
from zoo.errors import SkipPiece, ZooError
from zoo.locks import FileLock

FORMAT = 2  # 2: the manifest holds each array file's size and SHA-256
SPLITS = (("train", 0.8), ("valid", 0.1), ("test", 0.1))
CACHE = Path("datasets/cache")
ECHO_SKIPS = 20  # per-input skip lines printed before "... and N more"


def split_of(piece_id: str) -> str:
    """train / valid / test from sha1(piece id) read as a fraction in [0, 1)."""
    fraction = int.from_bytes(hashlib.sha1(piece_id.encode()).digest()[:8], "big") / 2**64
    edge = 0.0
    for name, share in SPLITS:
        edge += share
        if fraction < edge:
            return name
    return SPLITS[-1][0]


# zoo/data modules that only read prepared data: editing them keeps the cache valid.
_READERS = ("prepared.py", "roundtrip.py")  # and every *batches.py


def code_version() -> str:
    """zoo.__version__ plus a hash of the zoo/data and zoo/codecs sources that make the data."""
    h = hashlib.sha1()
    package = Path(zoo.__file__).parent
    for path in sorted([*package.glob("data/*.py"), *package.glob("codecs/*.py")]):
        reader = path.name in _READERS or path.name.endswith("batches.py")
        if not (path.parent.name == "data" and reader):
            h.update(path.name.encode() + path.read_bytes())
    return f"{zoo.__version__}+{h.hexdigest()[:12]}"


def fingerprint(source: Source, inputs: list[str], codec: Codec) -> str:
    listing = []
    for rel in inputs:
        st = (source.root / rel).stat()
        listing.append((rel, st.st_size, st.st_mtime_ns))
    key = {"source": source.name, "root": str(source.root), "inputs": listing,
           "variant": getattr(source, "variant", None),
           "codec": [codec.name, codec.params()], "code": code_version()}
    return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()


def encode_file(job: tuple[str, str | None, Codec], rel: str):
    """Worker: one input file -> ([(piece id, split, array, reader)], [(piece id, reason)])."""
    source_name, path, codec = job
    src = _source(source_name, path)
    if (source_name == "midi-dir" and type(codec) in fast_encode.FAST
            and src.variant == "auto"):
        fast = _encode_midi_fast(src, codec, rel)
        if fast is not None:
            return fast
    pieces, rejects = src.read(rel)
    encoded = []
    for piece in pieces:
        try:
            encoded.append((piece.id, piece.split or split_of(piece.id), _encode(codec, piece.ns),
                            piece.reader))
        except Exception as e:  # noqa: BLE001 - a piece the codec cannot take is skipped
            rejects.append((piece.id, reason_of(e)))
    return encoded, rejects


def _encode_midi_fast(src: Source, codec: Codec, rel: str):
    """``encode_file`` of one MIDI file for a codec of ``fast_encode.FAST``: symusic's read
    encoded from its arrays (no NoteSequence), the same piece, ids and skips as the usual path
    (MidiDirSource.read, then codec.encode). None where the fast reader passes the file to
    note-seq (the usual path then reads it)."""
    from zoo.data import midi_reader

    parts = midi_reader.read_parts_or_none((src.root / rel).read_bytes())
    if parts is None:
        return None
    if not any(len(i.pitch) for i in parts.instruments):
        raise SkipPiece("no notes")  # as MidiDirSource.read
    try:
        array = _checked(codec, fast_encode.encode_parts(codec, parts))
    except Exception as e:  # noqa: BLE001 - as encode_file: the codec's skip
        return [], [(rel, reason_of(e))]
    return [(rel, split_of(rel), array, "symusic")], []


@functools.lru_cache(maxsize=4)
def _source(name: str, path: str | None) -> Source:
    return get_source(name, path)


def _encode(codec: Codec, ns) -> np.ndarray:
    return _checked(codec, codec.encode(ns))


def _checked(codec: Codec, ids) -> np.ndarray:
    """A codec's output as the data set stores it (int32 ids or uint8 frames), or an error."""
    array = np.asarray(ids)
    if codec.kind == "frames":
        if array.ndim != 2 or array.shape[1] != codec.vocab_size:
            raise ValueError(f"codec gave frames {array.shape}, not (T, {codec.vocab_size})")
        array = array.astype(np.uint8, copy=False)
    elif array.ndim != 1:
        raise ValueError(f"codec gave ids of shape {array.shape}, not (T,)")
    else:
        array = array.astype(np.int32, copy=False)
    if not len(array):
        raise SkipPiece("encodes to nothing")
    return array


class _SplitWriter:
    """Appends pieces to DIR/<split>.data.bin; ``close`` turns it into the .npy files."""

    def __init__(self, directory: Path, name: str, codec: Codec):
        self.dir, self.name = directory, name
        self.dtype = np.dtype(np.uint8 if codec.kind == "frames" else np.int32)
        self.row = (codec.vocab_size,) if codec.kind == "frames" else ()
        self.raw = open(directory / f"{name}.data.bin", "wb")  # noqa: SIM115 - closed by close()
        self.offsets, self.ids = [0], []

    def add(self, piece_id: str, array: np.ndarray) -> None:
        self.raw.write(np.ascontiguousarray(array).tobytes())
        self.offsets.append(self.offsets[-1] + len(array))
        self.ids.append(piece_id)

    def close(self) -> dict:
        self.raw.close()
        raw = self.dir / f"{self.name}.data.bin"
        header = {"descr": self.dtype.str, "fortran_order": False,
                  "shape": (self.offsets[-1], *self.row)}
        with open(self.dir / f"{self.name}.data.npy", "wb") as out, open(raw, "rb") as src:
            np.lib.format.write_array_header_1_0(out, header)
            shutil.copyfileobj(src, out, 1 << 24)
        raw.unlink()
        np.save(self.dir / f"{self.name}.offsets.npy", np.asarray(self.offsets, np.int64))
        (self.dir / f"{self.name}.ids.json").write_text(json.dumps(self.ids))
        return {"pieces": len(self.ids), "events": self.offsets[-1]}


def prepare(source: str, path: str | os.PathLike | None, codec: Codec | str,
            out: str | os.PathLike | None = None, workers: int | None = None, force: bool = False,
            echo: Callable[[str], None] = print, time_limit: float | None = None) -> Path:
    """Prepare ``source`` (at ``path``) with ``codec``; returns the data set's folder.

    workers: processes (default: the CPUs this process may use; 0 runs inline).
    time_limit: seconds per input file (None: the source's ``time_limit``, else 60).

    Damaged inputs are skipped with a reason and never stop the run. ZooError is raised for a
    bad source, path or codec, or when no piece at all could be prepared.
    """
    started = time.perf_counter()
    codec = get_codec(codec) if isinstance(codec, str) else codec
    src = get_source(source, path)
    if time_limit is None:
        time_limit = getattr(src, "time_limit", None) or 60.0
    inputs = src.inputs()
    fp = fingerprint(src, inputs, codec)
    out = Path(out) if out is not None else CACHE / f"{source}-{codec.name}-{fp[:10]}"
    # One writer per data set: a second `zoo prepare` of it waits, then reuses what the first
    # wrote. The lock is released by the kernel however the holder ends.
    with FileLock(out.parent / f".{out.name}.lock", f"the data set {out}", wait=True, echo=echo):
        return _prepare_locked(source, src, inputs, codec, fp, out, workers, force, echo,
                               time_limit, started)


def _prepare_locked(source, src, inputs, codec, fp, out, workers, force, echo, time_limit,
                    started) -> Path:
    if not force and _reusable(out, fp, echo):
        echo(f"reusing {out} (same inputs, codec and code; --force to redo) "
             f"[{time.perf_counter() - started:.2f} s]")
        return out
    _remove_stale_temporaries(out)
    _check_replaceable(out)
    if (out / "manifest.json").exists():
        echo(f"replacing {out}" + ("" if force else " (prepared from other inputs or code)"))
    workers = _cpus() if workers is None else workers
    work = _work_dir(out)
    start = _open_work(work, fp, len(inputs), force)
    if start:
        echo(f"resuming: {start:,} of {len(inputs):,} inputs were read by an earlier run "
             f"({work})")
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"  # this run's, from its start
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        job = (source, None if src.path is None else str(src.path), codec)
        _read_inputs(work, inputs, start, codec, job, workers, time_limit, echo, out)
        counts, skipped, readers, duplicates = _assemble(work, tmp, codec,
                                                         getattr(src, "dedup", False))
        if not any(c["pieces"] for c in counts.values()):
            raise ZooError(f"nothing prepared from {source} ({src.root}): every piece of "
                           f"{len(inputs)} inputs was skipped: {_top_reason(skipped)}")
        manifest = {
            "format": FORMAT, "zoo_version": zoo.__version__,
            "source": {"name": source, "path": None if src.path is None else str(src.path)},
            "codec": {"name": codec.name, "params": codec.params()},
            "kind": codec.kind, "vocab_size": codec.vocab_size, "fingerprint": fp,
            "inputs": len(inputs), "splits": counts, "skipped": dict(skipped.most_common()),
            "readers": dict(readers.most_common()), "duplicates": duplicates,
            "seconds": round(time.perf_counter() - started, 2),
        }
        manifest["files"] = {f.name: file_record(f) for f in sorted(tmp.iterdir())}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        _swap_in(tmp, out)
        shutil.rmtree(work, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _summary(echo, out, manifest, skipped)
    return out


SHARD_INPUTS = 256  # inputs per shard of a run in progress (a killed run loses at most one)
SHARD_EVENTS = 1 << 22  # ... or fewer, once a shard holds this many events (16 MB of int32)
PROGRESS_S = 10.0  # seconds between progress lines


def _work_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.work"


def _open_work(work: Path, fp: str, n_inputs: int, force: bool) -> int:
    """The work folder of this data set, kept from a killed run when it was for the same
    fingerprint (and not ``force``); returns how many inputs its complete shards cover."""
    state = {"fingerprint": fp, "inputs": n_inputs}
    try:
        kept = json.loads((work / "work.json").read_text())
    except (OSError, ValueError):
        kept = None
    if force or kept != state:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        (work / "work.json").write_text(json.dumps(state))
        return 0
    covered = 0
    for k in range(len(list(work.glob("shard-*.json")))):
        try:
            covered = json.loads((work / f"shard-{k:06d}.json").read_text())["end"]
        except (OSError, ValueError, KeyError):
            break
        if not (work / f"shard-{k:06d}.npz").exists():
            break
    return covered


class _Shard:
    """The pieces, skips and readers of inputs [start, end), in input order, until written as
    ``shard-K.npz`` (arrays) + ``shard-K.json`` (ids, hashes, skips; written last, by rename,
    so a shard with its .json is complete)."""

    def __init__(self, index: int, start: int):
        self.index, self.start, self.events = index, start, 0
        self.pieces = {name: [] for name, _ in SPLITS}  # (id, array, hash)
        self.skips, self.readers = [], Counter()

    def add(self, piece_id, split, array, reader):
        digest = hashlib.sha1(str(array.shape).encode() + array.tobytes()).hexdigest()
        self.pieces[split].append((piece_id, array, digest))
        self.events += len(array)
        if reader:
            self.readers[reader] += 1

    def write(self, work: Path, end: int, codec: Codec) -> None:
        arrays = {}
        for name, items in self.pieces.items():
            row = (codec.vocab_size,) if codec.kind == "frames" else ()
            dtype = np.uint8 if codec.kind == "frames" else np.int32
            arrays[f"{name}.data"] = (np.concatenate([a for _, a, _ in items]) if items
                                      else np.zeros((0, *row), dtype))
            arrays[f"{name}.lengths"] = np.array([len(a) for _, a, _ in items], np.int64)
        stem, tmp = work / f"shard-{self.index:06d}", work / f"partial-{self.index:06d}"
        np.savez(f"{tmp}.npz", **arrays)  # "partial-*": never counted as a shard
        os.replace(f"{tmp}.npz", f"{stem}.npz")
        meta = {"start": self.start, "end": end, "skips": self.skips,
                "readers": dict(self.readers),
                "pieces": {n: [(i, h) for i, _, h in items] for n, items in self.pieces.items()}}
        Path(f"{tmp}.json").write_text(json.dumps(meta))
        os.replace(f"{tmp}.json", f"{stem}.json")


def _read_inputs(work, inputs, start, codec, job, workers, time_limit, echo, out):
    """Read inputs[start:] into shards (in input order, whatever order workers finish in)."""
    shard_index = len(list(work.glob("shard-*.json")))
    shard = _Shard(shard_index, start)
    shown, pending, next_index = [0], {}, start
    started, last_report, total = time.monotonic(), time.monotonic(), len(inputs)
    fn = functools.partial(encode_file, job)
    todo = inputs[start:]

    def skip(what: str, reason) -> None:
        entry = {"input": what, "reason": str(reason)}
        if getattr(reason, "raw", ""):
            entry["raw"] = reason.raw
        shard.skips.append(entry)
        shown[0] += 1
        if shown[0] <= ECHO_SKIPS:
            echo(f"skipped {what}: {reason}")

    for done, (index, result, reason) in enumerate(
            parallel.run(fn, todo, workers, time_limit), 1):
        pending[start + index] = (result, reason)
        while next_index in pending:
            result, reason = pending.pop(next_index)
            if reason is not None:
                skip(inputs[next_index], reason)
            else:
                encoded, rejects = result
                for piece_id, split, array, reader in encoded:
                    shard.add(piece_id, split, array, reader)
                for piece_id, why in rejects:
                    skip(piece_id, why)
            next_index += 1
            if (next_index - shard.start >= SHARD_INPUTS or shard.events >= SHARD_EVENTS
                    or next_index == total):
                shard.write(work, next_index, codec)
                shard = _Shard(shard.index + 1, next_index)
        now = time.monotonic()
        if now - last_report > PROGRESS_S:
            last_report = now
            rate = done / (now - started)
            left = (len(todo) - done) / rate if rate else float("inf")
            echo(f"  {start + done:,}/{total:,} inputs  {rate:,.1f} files/s  "
                 f"about {_duration(left)} left")
    if shown[0] > ECHO_SKIPS:
        echo(f"... and {shown[0] - ECHO_SKIPS} more, see {out}/skipped.jsonl")


def _duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else (
        f"{seconds // 60}m{seconds % 60:02d}s")


def _assemble(work: Path, tmp: Path, codec: Codec, dedup: bool):
    """Shards, in order -> the split arrays in ``tmp``; a piece whose events equal an earlier
    piece's is left out as a duplicate (when ``dedup``). One shard in memory at a time."""
    writers = {name: _SplitWriter(tmp, name, codec) for name, _ in SPLITS}
    skipped, readers, seen, duplicates = Counter(), Counter(), {}, 0
    with open(tmp / "skipped.jsonl", "w") as log:
        for k in range(len(list(work.glob("shard-*.json")))):
            meta = json.loads((work / f"shard-{k:06d}.json").read_text())
            with np.load(work / f"shard-{k:06d}.npz") as arrays:
                for entry in meta["skips"]:
                    skipped[entry["reason"]] += 1
                    log.write(json.dumps(entry) + "\n")
                readers.update(meta["readers"])
                for name, items in meta["pieces"].items():
                    data, lengths = arrays[f"{name}.data"], arrays[f"{name}.lengths"]
                    ends = np.cumsum(lengths)
                    for (piece_id, digest), stop, length in zip(items, ends, lengths):
                        if dedup and digest in seen:
                            duplicates += 1
                            reason = "duplicate of an earlier piece (the same events)"
                            skipped[reason] += 1
                            log.write(json.dumps({"input": piece_id, "reason": reason,
                                                  "of": seen[digest]}) + "\n")
                            continue
                        seen.setdefault(digest, piece_id)
                        writers[name].add(piece_id, data[stop - length:stop])
    return {name: w.close() for name, w in writers.items()}, skipped, readers, duplicates


def _cpus() -> int:
    if hasattr(os, "sched_getaffinity"):  # Linux: respects taskset and container CPU sets
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def file_record(path: Path) -> dict:
    """{"bytes": size, "sha256": hex digest} of one file of a data set."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def damaged_file(directory: Path, manifest: dict) -> str | None:
    """The first file of a prepared data set that is missing, or whose size or checksum is not
    the manifest's, with the reason; None when every file is as written."""
    for name, want in manifest.get("files", {}).items():
        path = directory / name
        if not path.exists():
            return f"{path} is missing"
        size = path.stat().st_size
        if size != want["bytes"]:
            return f"{path} has {size:,} bytes, not the {want['bytes']:,} it was written with"
        if file_record(path)["sha256"] != want["sha256"]:
            return f"{path} is altered (its SHA-256 is not the one it was written with)"
    return None


def _reusable(out: Path, fp: str, echo) -> bool:
    try:
        manifest = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("format") != FORMAT or manifest.get("fingerprint") != fp:
        return False
    damage = damaged_file(out, manifest)
    if damage:
        echo(f"{damage}; preparing {out} again")
        return False
    return True


def _remove_stale_temporaries(out: Path) -> None:
    """Folders a killed `zoo prepare` left beside ``out`` (``.NAME.tmp-PID``, ``.NAME.old-PID``):
    never read as data (a data set appears only by a rename once complete); removed here, under
    the data set's lock, so no live writer owns them."""
    for stale in out.parent.glob(f".{out.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    for stale in out.parent.glob(f".{out.name}.old-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _check_replaceable(out: Path) -> None:
    """Refuse to replace a folder that is not a prepared data set (an --out typo)."""
    if out.exists() and (not out.is_dir() or
                         (any(out.iterdir()) and not (out / "manifest.json").exists())):
        raise ZooError(f"{out} exists and is not a prepared data set; choose another --out")


def _swap_in(tmp: Path, out: Path) -> None:
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.rename(out, old)
    os.rename(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def _top_reason(skipped: Counter) -> str:
    return "; ".join(f"{n} x {r}" for r, n in skipped.most_common(3)) or "no inputs"


def _summary(echo, out: Path, manifest: dict, skipped: Counter) -> None:
    m = manifest
    echo(f"prepared {m['source']['name']} with {m['codec']['name']} in {m['seconds']:.1f} s "
         f"-> {out}")
    unit = "frames" if m["kind"] == "frames" else "events"
    for name, c in m["splits"].items():
        echo(f"  {name:<6}{c['pieces']:>8} pieces {c['events']:>11} {unit}")
    if m.get("readers"):
        by = Counter()
        for reader, n in m["readers"].items():
            by[reader.split(":")[0]] += n
        echo("  read by " + ", ".join(f"{r}: {n}" for r, n in by.most_common())
             + " (manifest.json: readers)")
    if skipped:
        echo(f"  skipped {sum(skipped.values())}:")
        for reason, n in skipped.most_common(12):
            echo(f"  {n:>8}  {reason}")
        if len(skipped) > 12:
            rest = sum(n for _, n in skipped.most_common()[12:])
            echo(f"  {rest:>8}  ({len(skipped) - 12} other reasons, see {out}/skipped.jsonl)")


def run_cli(args) -> int:
    """`zoo prepare SOURCE [PATH] --codec NAME [--set k=v] [--out DIR] [--workers N] [--force]`."""
    codec = get_codec(args.codec, **(args.codec_params or {}))
    prepare(args.source, args.path, codec, out=args.out, workers=args.workers, force=args.force)
    return 0
