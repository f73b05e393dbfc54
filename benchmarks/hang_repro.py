"""Run a command N times, each under a time limit, and count ok / hung / crashed runs.

    python benchmarks/hang_repro.py -n 20 -t 120 --dumps /tmp/hang/dumps -- \
        python -m zoo train music_vae --preset tiny --set steps=40 --workdir /tmp/hang/run{i}

``{i}`` in the command is replaced by the run's index (a fresh workdir per run). A run that is
still alive after the limit is "hung": before its process group is killed, every thread's stack
(Python and native, from ``py-spy dump --native``; gdb's ``thread apply all bt`` as a fallback) of
every process in the group is written to ``<dumps>/run<i>.txt``. A run that exits non-zero is
"crashed" (its output tail goes to ``<dumps>/run<i>.crash.txt``). Ends with one line:
``runs N ok A hung H crashed C``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path


def _group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    pids.append(int(entry))
            except OSError:
                pass
    return sorted(pids)


def _dump(pid: int, use_gdb: bool = True) -> str:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    parts = []
    if Path(py_spy).exists():
        r = subprocess.run([py_spy, "dump", "--native", "--pid", str(pid)],
                           capture_output=True, text=True, timeout=120)
        parts.append(f"$ py-spy dump --native --pid {pid}\n{r.stdout}{r.stderr}")
    if use_gdb and shutil.which("gdb"):
        r = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "thread apply all bt"],
                           capture_output=True, text=True, timeout=180)
        parts.append(f"$ gdb -p {pid} -batch -ex 'thread apply all bt'\n{r.stdout}{r.stderr}")
    return "\n".join(parts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--runs", type=int, default=10)
    ap.add_argument("-t", "--timeout", type=float, default=120.0, help="seconds per run")
    ap.add_argument("--dumps", default="/tmp/hang/dumps", help="folder for stack dumps")
    ap.add_argument("--no-gdb", action="store_true", help="py-spy only")
    ap.add_argument("--stop-on-hang", action="store_true")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        ap.error("no command")
    dumps = Path(args.dumps)
    dumps.mkdir(parents=True, exist_ok=True)
    ok = hung = crashed = 0
    times = []
    for i in range(args.runs):
        argv = [a.replace("{i}", str(i)) for a in cmd]
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=args.timeout)
            dt = time.monotonic() - t0
            times.append(dt)
            if proc.returncode == 0:
                ok += 1
                status = "ok"
            else:
                crashed += 1
                status = f"crashed rc={proc.returncode}"
                (dumps / f"run{i}.crash.txt").write_bytes(out[-20000:])
        except subprocess.TimeoutExpired:
            hung += 1
            status = "HUNG"
            pgid = proc.pid
            text = []
            for pid in _group_pids(pgid):
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                    text.append(f"===== pid {pid}: {cmdline.decode(errors='replace')}")
                    text.append(_dump(pid, use_gdb=not args.no_gdb))
                except Exception as e:  # noqa: BLE001
                    text.append(f"dump failed: {e!r}")
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out, _ = proc.communicate()
            text.append("===== output tail\n" + out[-5000:].decode(errors="replace"))
            path = dumps / f"run{i}.txt"
            path.write_text("\n".join(text))
            status += f" (stacks in {path})"
            dt = time.monotonic() - t0
        print(f"run {i}: {status} {dt:.1f}s", flush=True)
        if hung and args.stop_on_hang:
            break
    n = ok + hung + crashed
    mean = sum(times) / len(times) if times else float("nan")
    print(f"runs {n} ok {ok} hung {hung} crashed {crashed}  (mean finished run {mean:.1f}s)",
          flush=True)
    return 0 if hung == crashed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
