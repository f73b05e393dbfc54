"""``make demo``: prepare the embedded folk corpus, train the tiny Melody RNN on it, sample MIDI
and WAV files with an index.html to look at and listen to them.

    python -m zoo.demo [--workdir runs/demo-melody_rnn] [--steps N]

About five minutes on 2 CPU cores. Prints where the MIDI files and PNGs are.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from zoo.cli import main as zoo_main


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", default="runs/demo-melody_rnn")
    p.add_argument("--steps", type=int, default=None, help="override the tiny preset's steps")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    steps = ["--set", f"steps={args.steps}"] if args.steps else []
    for command in (
        ["prepare", "embedded-folk", "--codec", "melody"],
        ["train", "melody_rnn", "--preset", "tiny", "--workdir", args.workdir, *steps],
        ["eval", "--workdir", args.workdir],
        ["sample", "--workdir", args.workdir, "--num", "4", "--steps", "128", "--wav"],
    ):
        print(f"\n$ zoo {' '.join(command)}", flush=True)
        code = zoo_main(command)
        if code:
            return code
    out = Path(args.workdir) / "samples"
    print(f"\ndemo done in {time.perf_counter() - t0:.0f} s: MIDI, WAV and piano-roll PNGs in "
          f"{out.resolve()}; open {(out / 'index.html').resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
