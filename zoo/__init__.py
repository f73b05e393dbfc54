"""music-zoo: a JAX model zoo for symbolic music generation."""

import os

import jax

__version__ = "0.1.0"

# JAX's CPU client can stall a training loop forever when computations are dispatched
# asynchronously (jax-ml/jax#25861; seen here as an intermittent hang of `zoo train music_vae`
# on 2 cores, the main thread waiting for step 1's metrics). Run CPU computations inline unless
# the user chose otherwise. It must be set before the CPU client exists; GPUs and TPUs are
# unaffected.
if "JAX_CPU_ENABLE_ASYNC_DISPATCH" not in os.environ:
    jax.config.update("jax_cpu_enable_async_dispatch", False)
