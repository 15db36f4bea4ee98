"""mde_exp.autodiff: forward and reverse mode gradients (book section 4.4) and the timer."""

import torch

from mde_exp.autodiff import (
    forward_mode_gradient,
    reverse_mode_gradient,
    sin_chain,
    sin_chain_gradient,
    time_call,
)


def test_both_modes_give_the_gradient_by_hand():
    x = torch.randn(37, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    exact = sin_chain_gradient(x)
    assert torch.allclose(forward_mode_gradient(sin_chain, x), exact, atol=1e-13)
    assert torch.allclose(reverse_mode_gradient(sin_chain, x), exact, atol=1e-13)
    # against finite differences, so that the hand-written gradient is itself checked
    h, i = 1e-6, 5
    e = torch.zeros_like(x)
    e[i] = h
    assert abs(float((sin_chain(x + e) - sin_chain(x - e)) / (2 * h)) - float(exact[i])) < 1e-8


def test_forward_mode_takes_one_pass_per_coordinate():
    calls = []

    def counted(x: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return (x**2).sum()

    x = torch.arange(6, dtype=torch.float64)
    assert torch.allclose(forward_mode_gradient(counted, x), 2 * x)
    assert len(calls) == 6
    calls.clear()
    assert torch.allclose(reverse_mode_gradient(counted, x), 2 * x)
    assert len(calls) == 1


def test_time_call_is_a_positive_median():
    assert 0 < time_call(lambda: sum(range(100)), repeats=3, min_time=0.001) < 0.1
