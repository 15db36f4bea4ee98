"""Forward and reverse mode automatic differentiation of f: R^n -> R (book section 4.4), with torch.func.

Forward mode pushes one tangent direction through f per pass (a Jacobian-vector product), so the
gradient takes n passes, one per basis vector e_i; reverse mode pulls the output's adjoint back
through f once (a vector-Jacobian product) and gets all n partial derivatives together. Both are
torch.func's (`jvp`, `vjp`); `time_call` measures either the way the section-4.4 recipe compares them.
"""

import statistics
import time
from collections.abc import Callable

import torch
from torch.func import jvp, vjp

ScalarFunction = Callable[[torch.Tensor], torch.Tensor]


def sin_chain(x: torch.Tensor) -> torch.Tensor:
    """f(x) = sum_i sin(x_i x_{i+1}) (indices mod n): a smooth R^n -> R whose every coordinate
    interacts with its neighbours, so no partial derivative is trivial."""
    return torch.sin(x * torch.roll(x, -1)).sum()


def sin_chain_gradient(x: torch.Tensor) -> torch.Tensor:
    """The gradient of `sin_chain` by hand: df/dx_j = cos(x_j x_{j+1}) x_{j+1} + cos(x_{j-1} x_j) x_{j-1}."""
    right, left = torch.roll(x, -1), torch.roll(x, 1)
    return torch.cos(x * right) * right + torch.cos(left * x) * left


def forward_mode_gradient(f: ScalarFunction, x: torch.Tensor) -> torch.Tensor:
    """grad f(x) by forward mode: n Jacobian-vector products, the i-th with the basis vector e_i."""
    basis = torch.eye(x.numel(), dtype=x.dtype, device=x.device)
    return torch.stack([jvp(f, (x,), (basis[i].view_as(x),))[1] for i in range(x.numel())]).view_as(x)


def reverse_mode_gradient(f: ScalarFunction, x: torch.Tensor) -> torch.Tensor:
    """grad f(x) by reverse mode: one vector-Jacobian product with the output's adjoint 1."""
    value, pullback = vjp(f, x)
    return pullback(torch.ones_like(value))[0]


def time_call(fn: Callable[[], object], repeats: int = 5, min_time: float = 0.01) -> float:
    """The median over `repeats` of the wall time of one call of `fn` (seconds). Each repeat calls
    `fn` as many times as needed to take at least `min_time` and divides, so fast calls are timed over
    many and the median discards repeats that other processes slowed down."""
    fn()  # warm-up: first-call costs (allocations, dispatch caches) are not the method's cost
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    calls = max(1, int(min_time / once))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - start) / calls)
    return statistics.median(samples)
