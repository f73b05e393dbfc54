"""Orbax checkpoints of a run, behind one small class so an orbax API move touches one file.

Each checkpoint holds the train state (params, optimizer state, step) and a JSON item with the
base RNG key and the data pipeline's state (the index of the next batch). Saves are asynchronous;
orbax writes each step to a temporary directory and renames it when complete, so a half-written
step is never listed and restore falls back to the previous complete one.
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp

from zoo.errors import ZooError


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

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def save(self, step: int, state, rng: jax.Array, data_state: dict) -> None:
        meta = {"rng": np.asarray(jax.random.key_data(rng)).tolist(), "data": data_state}
        try:
            self._manager.save(step, args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)), force=True)
        except OSError as e:
            raise ZooError(f"cannot write checkpoint {step} in {self.directory}: "
                           f"{e.strerror or e}") from None

    def restore(self, step: int, abstract_state):
        """-> (state placed like ``abstract_state``, rng key, data state)."""
        try:
            out = self._manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore()))
        except (ValueError, KeyError, TypeError) as e:
            raise ZooError(f"checkpoint {step} in {self.directory} does not fit this model "
                           f"({str(e).splitlines()[0][:200]})") from None
        rng = jax.random.wrap_key_data(np.asarray(out.meta["rng"], np.uint32))
        return out.state, rng, out.meta["data"]

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()
