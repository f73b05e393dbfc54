"""One writer at a time: an advisory lock on a file (``fcntl.flock``), held while a process
lives and released by the kernel when it ends, however it ends (a lock left by a killed process
is simply free). The lock file records who holds it, for the one-line message of whoever finds
it taken.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from zoo.errors import ZooError


class FileLock:
    """``with FileLock(path, what):`` ... ; ``wait=False`` ends in a ZooError naming the holder
    when another live process holds the lock, ``wait=True`` blocks until it is free."""

    def __init__(self, path: Path, what: str, *, wait: bool = False, echo=None):
        self.path, self.what, self.wait, self.echo = Path(path), what, wait, echo
        self._fd: int | None = None

    def holder(self) -> str:
        try:
            info = json.loads(self.path.read_text() or "{}")
        except (OSError, json.JSONDecodeError):
            return "another process"
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.get("since", 0)))
        return f"process {info.get('pid', '?')} on {info.get('host', '?')} since {since}"

    def acquire(self) -> FileLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise ZooError(f"cannot write {self.path.parent}: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not self.wait:
                os.close(fd)
                raise ZooError(f"{self.what} is in use by {self.holder()}; wait for it to "
                               "finish or use another directory") from None
            if self.echo:
                self.echo(f"waiting for {self.holder()}, which holds {self.what}")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "since": time.time()}).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
