"""Orbax checkpoints of a run, behind one small class so an orbax API move touches one file.

Each checkpoint holds the train state (params, optimizer state, step) and a JSON item with the
base RNG key and the data pipeline's state (the index of the next batch). Saves are asynchronous;
orbax writes each step to a temporary directory and renames it when complete, so a half-written
step is never listed and restore falls back to the previous complete one.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp

from zoo.errors import ZooError, silence_library_noise


class Checkpoints:
    def __init__(self, directory: Path, keep: int = 3, asynchronous: bool = True):
        self.directory = Path(directory).absolute()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ZooError(f"cannot create checkpoint directory {self.directory}: "
                           f"{e.strerror}") from None
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, enable_async_checkpointing=asynchronous, create=True)
        self._manager = ocp.CheckpointManager(self.directory, options=options)
        self._last_saved: int | None = None  # the newest step handed to the async writer

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def save(self, step: int, state, rng: jax.Array, data_state: dict) -> None:
        meta = {"rng": np.asarray(jax.random.key_data(rng)).tolist(), "data": data_state}
        self._last_saved = step
        with self._writing(step):
            self._manager.save(step, args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)), force=True)

    @contextlib.contextmanager
    def _writing(self, step: int | None):
        """A failed write (full disk, lost permissions) ends as one line; the unfinished step
        stays a temporary directory that orbax never lists, so the previous one is used."""
        try:
            yield
        except ZooError:
            raise
        except Exception as e:  # orbax/tensorstore raise ValueError, OSError, ... for I/O errors
            silence_library_noise()
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            step = self._last_saved if step is None else step  # an async write failing late
            during = "" if step is None else f" (saving step {step})"
            raise ZooError(f"cannot write checkpoints in {self.directory}{during}; is the disk "
                           f"full? ...{first[-160:]}; earlier checkpoints are kept") from None

    def restore(self, step: int, abstract_state):
        """-> (state placed like ``abstract_state``, rng key, data state)."""
        try:
            out = self._manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore()))
        except Exception as e:  # orbax and tensorstore raise many types for a bad checkpoint
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise ZooError(f"checkpoint {step} in {self.directory} cannot be restored for this "
                           f"model: it is damaged or from another model or codec ({first})"
                           ) from None
        rng = jax.random.wrap_key_data(np.asarray(out.meta["rng"], np.uint32))
        return out.state, rng, out.meta["data"]

    def restore_latest(self, abstract_state, echo=print):
        """Restore the newest checkpoint that reads back, going to older ones past a damaged one.
        -> (step, state, rng, data state), or None when there is no checkpoint."""
        first_error = None
        for step in sorted(self.all_steps(), reverse=True):
            try:
                return (step, *self.restore(step, abstract_state))
            except ZooError as e:
                first_error = first_error or e
                moved = self._set_aside(step)
                echo(f"warning: {e}; moved it to {moved.name} and trying the previous checkpoint")
        if first_error is not None:
            raise first_error
        return None

    def _set_aside(self, step: int) -> Path:
        """Rename an unreadable step out of orbax's sight (kept for inspection, never deleted),
        so training can save that step again."""
        target = self.directory / f"{step}.unreadable"
        n = 1
        while target.exists():
            n += 1
            target = self.directory / f"{step}.unreadable-{n}"
        (self.directory / str(step)).rename(target)
        self._manager.reload()
        return target

    def wait(self) -> None:
        with self._writing(None):
            self._manager.wait_until_finished()

    def close(self) -> None:
        with self._writing(None):
            self._manager.wait_until_finished()
            self._manager.close()
