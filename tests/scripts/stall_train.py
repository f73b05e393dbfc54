"""`zoo train` whose train step never returns from its ``STALL_AT``-th call (a hang injected for
tests/test_one_writer.py), so the progress watchdog must end it.

    python stall_train.py STALL_AT zoo-train-arguments...
"""

import sys
import threading

from zoo.cli import main
from zoo.training import loop


def stall_at(n: int) -> None:
    real_init = loop.Trainer.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        step, calls = self.train_step, [0]

        def stalled_train_step(state, batch, rng):
            calls[0] += 1
            if calls[0] == n:
                threading.Event().wait()  # forever: as a computation that never finishes
            return step(state, batch, rng)

        self.train_step = stalled_train_step

    loop.Trainer.__init__ = init


if __name__ == "__main__":
    stall_at(int(sys.argv[1]))
    sys.exit(main(sys.argv[2:]))
