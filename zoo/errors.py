"""Errors that reach the user as one clear line (the CLI prints them and exits 2)."""


class ZooError(Exception):
    """A user-facing error: bad input, bad configuration, missing files. Printed as one line."""


class SkipPiece(Exception):
    """A piece that cannot be used (no notes, too short, unparseable); the reason is reported.

    Raised by codecs and sources; preparation counts it by reason and goes on.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# After a failed checkpoint write, orbax's background writer threads keep failing on their way
# out and print tracebacks straight to stderr. The console script opts in to replacing them with
# its one-line error: ``quiet_failures()`` at start, ``silence_library_noise()`` at the failure,
# ``error_stream()`` for the final line. In-process callers (tests, notebooks) are untouched.
_quiet_enabled = False
_real_stderr = None


def quiet_failures() -> None:
    import sys

    global _quiet_enabled
    _quiet_enabled = True
    default_hook = sys.unraisablehook

    def hook(unraisable):
        # tensorstore's writer callbacks report into orbax's event loop after a failed write
        # closed it, each as an unraisable exception. The failed write itself is reported.
        value = unraisable.exc_value
        if isinstance(value, RuntimeError) and str(value) == "Event loop is closed":
            return
        default_hook(unraisable)

    sys.unraisablehook = hook


def silence_library_noise() -> None:
    import os
    import sys

    global _real_stderr
    if not _quiet_enabled or _real_stderr is not None:
        return
    sys.stderr.flush()
    _real_stderr = os.fdopen(os.dup(2), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # C++ and stale handles write to the descriptor, not to sys.stderr
    sys.stderr = os.fdopen(devnull, "w")


def error_stream():
    import sys

    return _real_stderr or sys.stderr
