"""One process of a multi-process data-parallel run, launched by tests/test_reliability.py.

    python train_one_process.py DATA WORKDIR OUT.npz [--set k=v ...]

JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID and XLA_FLAGS come from the
environment, as on a real cluster; the zoo joins the job through jax.distributed by itself.
"""

import sys

import jax
import numpy as np

from zoo.runs import RunSpec, train_and_evaluate


def main() -> None:
    data, workdir, out, *sets = sys.argv[1:]
    spec = RunSpec("melody_rnn", "tiny", data, tuple(s for s in sets if s != "--set"))
    summary = train_and_evaluate(workdir, spec, progress=False)
    leaves, _ = jax.tree.flatten_with_path(summary["state"].params)
    # Parameters are replicated: this process's first local copy is the whole value.
    np.savez(out, **{jax.tree_util.keystr(k): np.asarray(v.addressable_data(0))
                     for k, v in leaves})
    print(f"process {jax.process_index()} of {jax.process_count()}: step {summary['step']}, "
          f"{jax.device_count()} devices")


if __name__ == "__main__":
    main()
