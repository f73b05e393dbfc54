"""Matmul and convolution FLOPs of a function, counted from its jaxpr.

XLA's ``cost_analysis()`` counts the body of a ``while`` loop once, so for a model whose time
loop is a ``lax.scan`` (every LSTM here) it misses nearly all the work. This walks the jaxpr
instead and multiplies a scan body by its length. Only ``dot_general`` and
``conv_general_dilated`` are counted (2 FLOPs per multiply-add): the work a matmul peak bounds.
Elementwise work (activations, softmax, the optimizer) is left out, so utilisation reads as
"share of the matmul peak spent on matmuls".
"""

from __future__ import annotations

import math

import jax
from jax.extend import core as jex_core


def _dot_flops(eqn) -> int:
    (lhs_contract, _), _ = eqn.params["dimension_numbers"]
    lhs = eqn.invars[0].aval.shape
    out = eqn.outvars[0].aval.shape
    return 2 * math.prod(out) * math.prod(lhs[d] for d in lhs_contract)


def _conv_flops(eqn) -> int:
    rhs = eqn.invars[1].aval.shape                   # kernel: O, I / groups, spatial...
    out = eqn.outvars[0].aval.shape
    dn = eqn.params["dimension_numbers"]
    out_features = rhs[dn.rhs_spec[0]]
    per_output = math.prod(rhs) // out_features      # (I / groups) * kernel window
    return 2 * math.prod(out) * per_output


def _sub_jaxprs(eqn):
    for value in eqn.params.values():
        for item in value if isinstance(value, (tuple, list)) else (value,):
            if isinstance(item, jex_core.ClosedJaxpr):
                yield item.jaxpr
            elif isinstance(item, jex_core.Jaxpr):
                yield item


def jaxpr_flops(jaxpr) -> tuple[int, bool]:
    """(FLOPs, exact): ``exact`` is False when a ``while`` loop of unknown trip count was met
    (its body is then counted once)."""
    total, exact = 0, True
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name == "dot_general":
            total += _dot_flops(eqn)
        elif name == "conv_general_dilated":
            total += _conv_flops(eqn)
        elif name == "scan":
            body, ok = jaxpr_flops(eqn.params["jaxpr"].jaxpr)
            total += eqn.params["length"] * body
            exact &= ok
        elif name == "cond":
            counts = [jaxpr_flops(b.jaxpr) for b in eqn.params["branches"]]
            total += max(c for c, _ in counts)
            exact &= all(ok for _, ok in counts)
        else:
            if name == "while":
                exact = False
            for sub in _sub_jaxprs(eqn):
                count, ok = jaxpr_flops(sub)
                total += count
                exact &= ok
    return total, exact


def count_flops(fn, *args) -> tuple[int, bool]:
    """Matmul + convolution FLOPs of one call ``fn(*args)`` (a jitted or plain function)."""
    closed = jax.make_jaxpr(fn)(*args)
    return jaxpr_flops(closed.jaxpr)
