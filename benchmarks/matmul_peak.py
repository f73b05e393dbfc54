"""The machine's achieved matmul peak, measured in the same run as the model figures.

FLOPs utilisation elsewhere in the report is a model's matmul FLOPs per second over this number:
the best median GFLOP/s of square ``N x N @ N x N`` products (2 N^3 FLOPs) in float32 over a few
sizes, through ``jax.jit`` (and through torch, when installed, for the side-by-side rows). On a
GPU the report also divides by the datasheet's dense bf16 peak.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from benchmarks.timing import summary, time_calls

# Dense bf16 tensor-core peaks (TFLOP/s) from vendor datasheets, by substring of device_kind.
DATASHEET_TFLOPS = {
    "H100 PCIe": 756.0,
    "H100": 989.0,      # SXM
    "H200": 989.0,
    "A100": 312.0,
    "L4": 121.0,
    "TPU v4": 275.0,
    "TPU v5 lite": 197.0,
    "TPU v5p": 459.0,
}


def datasheet_tflops(device) -> float | None:
    """The datasheet bf16 peak of ``device`` (a jax Device), or None (CPUs: none published)."""
    if device.platform == "cpu":
        return None
    for key, tflops in DATASHEET_TFLOPS.items():
        if key.lower() in device.device_kind.lower():
            return tflops
    return None


def _jax_product(matmul, a, b):
    return matmul(a, b).block_until_ready()


def jax_matmul_peak(sizes=(512, 1024, 2048), iters: int = 5, dtype="float32") -> dict:
    """{"gflops": best median GFLOP/s over ``sizes``, "by_size": {N: GFLOP/s}, ...}."""
    matmul = jax.jit(jnp.matmul)
    by_size = {}
    for n in sizes:
        a = jax.random.normal(jax.random.key(0), (n, n), dtype)
        b = jax.random.normal(jax.random.key(1), (n, n), dtype)
        stats = summary(time_calls(functools.partial(_jax_product, matmul, a, b), iters, warmup=2))
        by_size[n] = 2 * n**3 / stats["median_s"] / 1e9
    device = jax.devices()[0]
    return {"gflops": max(by_size.values()), "by_size": by_size, "dtype": dtype,
            "device_kind": device.device_kind, "datasheet_tflops": datasheet_tflops(device)}


def torch_matmul_peak(sizes=(512, 1024, 2048), iters: int = 5) -> dict | None:
    """The same measurement through torch (float32, CPU), or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    by_size = {}
    with torch.no_grad():
        for n in sizes:
            a, b = torch.randn(n, n), torch.randn(n, n)
            stats = summary(time_calls(functools.partial(torch.matmul, a, b), iters, warmup=2))
            by_size[n] = 2 * n**3 / stats["median_s"] / 1e9
    return {"gflops": max(by_size.values()), "by_size": by_size, "dtype": "float32",
            "threads": torch.get_num_threads()}
