"""Round-trip the embedded corpora through the codecs: encode(decode(ids)) == ids.

    python -m zoo.data.roundtrip [--codec NAME ...] [--source embedded-folk ...] [--workers N]

Every piece a codec encodes must come back to the same ids (frames) after decode and encode
again; pieces a codec skips are counted, not failures. Prints one line per source and codec and
the first failing pieces; exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections import Counter

import numpy as np

from zoo.codecs import CODEC_NAMES, get_codec
from zoo.data import parallel
from zoo.data.sources import get_source
from zoo.errors import SkipPiece

EMBEDDED = ("embedded-folk", "embedded-chorales")
SHOW_FAILURES = 5


def roundtrip_file(job: tuple[str, tuple[str, ...]], rel: str) -> dict:
    """Worker: one input file -> {codec: {"pieces", "encoded", "skipped", "failures": [..]}}."""
    source_name, codec_names = job
    pieces, _ = get_source(source_name).read(rel)
    report = {}
    for name in codec_names:
        codec = get_codec(name)
        r = report[name] = {"pieces": len(pieces), "encoded": 0, "skipped": 0, "failures": []}
        for piece in pieces:
            try:
                ids = codec.encode(piece.ns)
            except SkipPiece:  # the codec does not take this piece: not a round-trip failure
                r["skipped"] += 1
                continue
            except Exception as e:  # noqa: BLE001 - a codec must skip with SkipPiece only
                r["failures"].append(f"{piece.id}: encode raised {parallel.reason_of(e)}")
                continue
            r["encoded"] += 1
            try:
                again = codec.encode(codec.decode(ids))
                ok = np.array_equal(again, ids)
                why = "" if ok else _difference(ids, again)
            except Exception as e:  # noqa: BLE001 - any failure to come back is a failure
                ok, why = False, parallel.reason_of(e)
            if not ok:
                r["failures"].append(f"{piece.id}: {why}")
    return report


def _difference(a, b) -> str:
    a, b = np.asarray(a), np.asarray(b)
    n = min(len(a), len(b))
    if a.shape[1:] != b.shape[1:]:
        return f"shape {a.shape} -> {b.shape}"
    diff = np.flatnonzero(np.any((a[:n] != b[:n]).reshape(n, -1), axis=1))
    return f"length {len(a)} -> {len(b)}, first difference at step {diff[0] if diff.size else n}"


def roundtrip(source: str, codecs: tuple[str, ...], workers: int, echo=print) -> int:
    """Round-trip one source through ``codecs``; returns the number of failures."""
    started = time.perf_counter()
    inputs = get_source(source).inputs()
    totals = {name: Counter() for name in codecs}
    failures: dict[str, list[str]] = {name: [] for name in codecs}
    unread = 0
    fn = functools.partial(roundtrip_file, (source, codecs))
    for _, report, reason in parallel.run(fn, inputs, workers, seconds=600):
        if reason is not None:
            unread += 1
            continue
        for name, r in report.items():
            totals[name].update({k: r[k] for k in ("pieces", "encoded", "skipped")})
            failures[name] += r["failures"]
    seconds = time.perf_counter() - started
    echo(f"{source}: {len(inputs)} files ({unread} unreadable), {seconds:.1f} s")
    for name in codecs:
        t, f = totals[name], failures[name]
        echo(f"  {name:<18} {t['encoded']:>6} encoded {t['skipped']:>6} skipped "
             f"{len(f):>5} round-trip failures")
        for line in sorted(f)[:SHOW_FAILURES]:
            echo(f"      {line}")
        if len(f) > SHOW_FAILURES:
            echo(f"      ... and {len(f) - SHOW_FAILURES} more")
    return sum(len(f) for f in failures.values())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zoo.data.roundtrip", description=__doc__.split(
        "\n")[0])
    p.add_argument("--codec", action="append", choices=CODEC_NAMES,
                   help="codec to check (repeatable; default: all)")
    p.add_argument("--source", action="append", choices=EMBEDDED,
                   help="corpus to read (repeatable; default: both)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = p.parse_args(argv)
    codecs = tuple(args.codec or CODEC_NAMES)
    failed = sum(roundtrip(s, codecs, args.workers) for s in args.source or EMBEDDED)
    print("all round trips exact" if not failed else f"{failed} round-trip failures")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
