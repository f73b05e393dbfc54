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
