"""Data parallelism over every device: one Mesh with a ``data`` axis.

The global batch is sharded over ``data``; parameters and optimizer state are replicated; the loss
is a mean over the global batch, so XLA inserts the gradient all-reduce (the pmap idea, written as
``jax.jit`` with shardings). The same code runs on one process or many after
``jax.distributed.initialize()``: each process passes only its own rows of the batch.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

from zoo.errors import ZooError


def maybe_initialize_distributed() -> None:
    """Join a multi-process job when launched as one, with no code change: explicitly through
    JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID, or by jax.distributed's own
    detection under SLURM (several tasks) or on a multi-worker TPU pod slice. No-op otherwise."""
    if jax.distributed.is_initialized():
        return
    if os.environ.get("JAX_COORDINATOR_ADDRESS"):
        # CPU processes (tests, CPU clusters) need a collectives backend; GPUs and TPUs ignore it.
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(
            coordinator_address=os.environ["JAX_COORDINATOR_ADDRESS"],
            num_processes=int(os.environ["JAX_NUM_PROCESSES"]),
            process_id=int(os.environ["JAX_PROCESS_ID"]),
            initialization_timeout=BARRIER_SECONDS,
        )
    elif (int(os.environ.get("SLURM_NTASKS", "1")) > 1
          or len(os.environ.get("TPU_WORKER_HOSTNAMES", "").split(",")) > 1):
        jax.distributed.initialize()


BARRIER_SECONDS = 1800  # a peer may be this much later than the others (slow compile, busy host)


def barrier(name: str) -> None:
    """Every process waits here until all have arrived (the coordination service's barrier, not
    a device collective, so it has its own generous timeout). No-op in a single process."""
    if jax.process_count() == 1:
        return
    from jax._src import distributed

    client = distributed.global_state.client
    if client is None:  # not started by jax.distributed (cannot happen with process_count > 1)
        return
    client.wait_at_barrier(name, timeout_in_ms=BARRIER_SECONDS * 1000)


def make_mesh(devices=None) -> jax.sharding.Mesh:
    """A 1-D mesh over ``devices`` (default: all devices of all processes), axis ``data``."""
    if devices is None:
        return jax.make_mesh((jax.device_count(),), ("data",), axis_types=(AxisType.Auto,))
    return jax.sharding.Mesh(np.asarray(devices), ("data",), axis_types=(AxisType.Auto,))


def replicated(mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharding(mesh) -> NamedSharding:
    return NamedSharding(mesh, P("data"))


def check_batch_divides(global_batch: int, mesh) -> None:
    n = mesh.devices.size
    if global_batch % n:
        raise ZooError(f"batch size {global_batch} does not divide over {n} devices; "
                       f"use --set batch_size=<a multiple of {n}>")


def global_batch(local: dict[str, np.ndarray], mesh) -> dict[str, jax.Array]:
    """This process's rows -> one global array per field, sharded over ``data``."""
    sharding = batch_sharding(mesh)
    return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in local.items()}
