"""Optimisers of the book's chapter 4 that torch.optim lacks: momentum in the book's form (section 4.3),
exact line search (section 4.6, figs 4.8 and 4.9) and Newton's method (section 4.6, fig 4.10).

Each is a torch.optim.Optimizer, selected like torch's own by a config in conf/optimizer/
(book_momentum, line_search, newton; lbfgs is torch.optim.LBFGS), and each takes the closure that
Lightning's automatic optimisation passes to ``optimizer.step``.

- ``BookMomentum``: v <- beta v + (1 - beta) g, theta <- theta - alpha v, with v_0 = 0. torch's SGD
  keeps u <- beta u + g (u_1 = g_1), so u_t = v_t / (1 - beta) exactly: the book's method with rate
  alpha IS ``torch.optim.SGD(lr=alpha (1 - beta), momentum=beta)``. torch's ``dampening=beta`` is not
  the same: it starts from u_1 = g_1 instead of (1 - beta) g_1, so u_t - v_t = beta^t g_1 (a start-up
  difference that fades). tests/test_optim.py checks both relations.
- ``ExactLineSearch``: theta <- theta + alpha* d with d = -g and alpha* = argmin_{alpha > 0}
  C(theta + alpha d), found by bracketing and Brent's method (scipy.optimize.minimize_scalar).
- ``Newton``: theta <- theta - lr (H + damping I)^{-1} g with the Hessian H of the loss over the
  flattened parameters from torch.func.hessian; in one dimension theta - C'(theta) / C''(theta).
  With an indefinite H the step heads for a saddle or a maximum, as the book's fig 4.10 shows.

Line search and Newton's method evaluate the loss at points other than the current parameters. They
use the loss on the current batch as a pure function of the parameters when one is bound
(``bind_loss``: every BookModule binds it before each training step, see ``bind_batch_loss``); line
search falls back to calling the closure at the trial points, Newton's method needs the bound loss.
"""

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import Optimizer

LossOfParameters = Callable[[Sequence[torch.Tensor]], torch.Tensor]
Closure = Callable[[], torch.Tensor]


class BookMomentum(Optimizer):
    """Gradient descent with momentum in the book's form (section 4.3):
    v <- beta v + (1 - beta) g, theta <- theta - lr v, starting from v = 0."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.9) -> None:
        if lr <= 0:
            raise ValueError(f"lr must be positive, got {lr}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        super().__init__(params, {"lr": lr, "momentum": momentum})

    @torch.no_grad()
    def step(self, closure: Closure | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta = group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "velocity" not in state:
                    state["velocity"] = torch.zeros_like(p)
                velocity = state["velocity"]
                velocity.mul_(beta).add_(p.grad, alpha=1.0 - beta)
                p.add_(velocity, alpha=-group["lr"])
        return loss


class _WholeVectorOptimizer(Optimizer):
    """An optimiser that treats all its parameters as one flat vector theta (one parameter group), and
    that can be given the loss as a pure function of the parameters (``bind_loss``)."""

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError(f"{type(self).__name__} takes one parameter group")
        self._loss_of: LossOfParameters | None = None

    @property
    def _params(self) -> list[torch.Tensor]:
        return [p for p in self.param_groups[0]["params"] if p.requires_grad]

    def bind_loss(self, loss_of_parameters: LossOfParameters | None) -> None:
        """Give the loss as a function of a list of tensors shaped like the trainable parameters (in
        the optimiser's order); None unbinds it."""
        self._loss_of = loss_of_parameters

    def _flat(self) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self._params])

    def _flat_grad(self) -> torch.Tensor:
        return torch.cat(
            [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in self._params]
        )

    def _split(self, flat: torch.Tensor) -> list[torch.Tensor]:
        out, start = [], 0
        for p in self._params:
            out.append(flat[start : start + p.numel()].view_as(p))
            start += p.numel()
        return out

    @torch.no_grad()
    def _assign(self, flat: torch.Tensor) -> None:
        for p, value in zip(self._params, self._split(flat), strict=True):
            p.copy_(value)

    def _flat_loss(self) -> Callable[[torch.Tensor], torch.Tensor]:
        if self._loss_of is None:
            raise RuntimeError(
                f"{type(self).__name__} needs the loss as a function of the parameters: call "
                "optimizer.bind_loss(fn) before step (mde_exp's BookModule models bind it each step)"
            )
        loss_of = self._loss_of
        return lambda flat: loss_of(self._split(flat))


class ExactLineSearch(_WholeVectorOptimizer):
    """Gradient descent with exact line search (book section 4.6): theta <- theta + alpha* d with
    d = -grad C(theta) and alpha* = argmin_{alpha > 0} C(theta + alpha d).

    Args:
        lr: the first trial step of the bracketing (halved until the loss falls, then doubled until it
            rises again); alpha* itself is whatever minimises the loss along d.
        tol: relative tolerance of Brent's method on alpha.
        max_evals: most loss evaluations of one line search.
    The step taken last is in ``state["alpha"]`` (and ``state["alphas"]``, one per step).
    """

    def __init__(
        self, params: Iterable[Any], lr: float = 1e-3, tol: float = 1e-10, max_evals: int = 500
    ) -> None:
        if lr <= 0:
            raise ValueError(f"lr must be positive, got {lr}")
        super().__init__(params, {"lr": lr, "tol": tol, "max_evals": max_evals})

    def step(self, closure: Closure | None = None) -> torch.Tensor | None:
        if closure is None:
            raise RuntimeError("ExactLineSearch.step needs a closure that returns the loss (and sets .grad)")
        with torch.enable_grad():
            loss = closure()
        group = self.param_groups[0]
        theta = self._flat()
        direction = -self._flat_grad().detach()
        if not bool(torch.isfinite(direction).all()) or float(direction.norm()) == 0.0:
            return loss
        phi, slope = self._along(theta, direction, closure)
        alpha = line_minimum(phi, float(loss.detach()), group["lr"], group["tol"], group["max_evals"])
        alpha = polish_stationary(slope, alpha) if alpha > 0 else alpha
        self._assign(theta + alpha * direction)
        state = self.state["line_search"]
        state["alpha"] = alpha
        state.setdefault("alphas", []).append(alpha)
        return loss

    def _along(
        self, theta: torch.Tensor, direction: torch.Tensor, closure: Closure
    ) -> tuple[Callable[[float], float], Callable[[float], float]]:
        """phi(alpha) = C(theta + alpha d) and its slope phi'(alpha) = grad C(theta + alpha d) . d: by the
        bound loss if any (torch.func.grad), else by the closure at that point (which sets .grad)."""
        if self._loss_of is not None:
            flat_loss = self._flat_loss()
            gradient = torch.func.grad(flat_loss)

            def phi(alpha: float) -> float:
                with torch.no_grad():
                    return float(flat_loss(theta + alpha * direction))

            def slope(alpha: float) -> float:
                with torch.enable_grad():
                    return float(torch.dot(gradient(theta + alpha * direction).detach(), direction))

            return phi, slope

        def phi_by_closure(alpha: float) -> float:
            self._assign(theta + alpha * direction)
            with torch.enable_grad():
                return float(closure().detach())

        def slope_by_closure(alpha: float) -> float:
            phi_by_closure(alpha)
            return float(torch.dot(self._flat_grad().detach(), direction))

        return phi_by_closure, slope_by_closure


def polish_stationary(slope: Callable[[float], float], alpha: float, steps: int = 4) -> float:
    """Refine a minimiser alpha of phi by secant steps on phi'(alpha) = 0: values alone place a minimum
    only to about sqrt(machine epsilon), the slope places it to machine precision. A step is kept only
    if it lowers |phi'|."""
    a0, s0 = alpha, slope(alpha)
    a1 = alpha * (1 + 1e-7)
    s1 = slope(a1)
    best, best_slope = (a0, abs(s0)) if abs(s0) <= abs(s1) else (a1, abs(s1))
    for _ in range(steps):
        if s1 == s0 or best_slope == 0.0:
            break
        a0, a1, s0 = a1, a1 - s1 * (a1 - a0) / (s1 - s0), s1
        if not a1 > 0:
            break
        s1 = slope(a1)
        if abs(s1) < best_slope:
            best, best_slope = a1, abs(s1)
    return best


def line_minimum(
    phi: Callable[[float], float], phi0: float, first: float, tol: float = 1e-10, max_evals: int = 500
) -> float:
    """argmin_{alpha > 0} phi(alpha) for phi decreasing at 0 (phi(0) = phi0): bracket a < b < c with
    phi(b) below phi(a) and phi(c), then Brent's method inside. Returns 0 if no decrease is found."""
    evals = 0

    def f(alpha: float) -> float:
        nonlocal evals
        evals += 1
        value = phi(alpha)
        return value if value == value else float("inf")  # NaN: treat as infinitely bad

    b, fb = first, f(first)
    while fb >= phi0:  # shrink until the loss falls
        b /= 2
        if evals > max_evals // 2 or b == 0.0:
            return 0.0
        fb = f(b)
    a, c = 0.0, 2 * b
    fc = f(c)
    while fc < fb and evals < max_evals // 2:  # expand until it rises again
        a, b, fb = b, c, fc
        c *= 2
        fc = f(c)
    import scipy.optimize  # here, not at import: models import this module, and few runs search lines

    result = scipy.optimize.minimize_scalar(
        f, bracket=(a, b, c), method="brent", options={"xtol": tol, "maxiter": max(1, max_evals - evals)}
    )
    return float(result.x) if result.fun <= fb else b


class Newton(_WholeVectorOptimizer):
    """Newton's method (book section 4.6): theta <- theta - lr (H + damping I)^{-1} g, with H the
    Hessian of the loss over the flattened parameters (torch.func.hessian) and g its gradient.

    In one dimension the step is C'(theta) / C''(theta). The Hessian solved for the last step is in
    ``state["newton"]["hessian"]``. lr = 1 and damping = 0 give the book's method.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1.0, damping: float = 0.0) -> None:
        if lr <= 0:
            raise ValueError(f"lr must be positive, got {lr}")
        if damping < 0:
            raise ValueError(f"damping must be >= 0, got {damping}")
        super().__init__(params, {"lr": lr, "damping": damping})

    def step(self, closure: Closure | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        group = self.param_groups[0]
        theta = self._flat()
        flat_loss = self._flat_loss()
        with torch.enable_grad():
            hessian = torch.func.hessian(flat_loss)(theta)
            gradient = self._flat_grad() if closure is not None else torch.func.grad(flat_loss)(theta)
        if group["damping"]:
            hessian = hessian + group["damping"] * torch.eye(
                len(theta), dtype=theta.dtype, device=theta.device
            )
        delta = torch.linalg.solve(hessian.detach(), gradient.detach())
        self._assign(theta - group["lr"] * delta)
        self.state["newton"]["hessian"] = hessian.detach()
        return loss


def batch_loss_function(module: nn.Module, batch: Any) -> Callable[[dict[str, torch.Tensor]], torch.Tensor]:
    """The training loss of `module` on `batch` as a pure function of (some of) its named parameters,
    for torch.func: the module's own ``loss_function(batch)`` if it has one, else the book's losses
    of its output ``module(x)``: squared error against ``module.targets(batch)`` for regressors,
    cross-entropy against integer labels batch[1] for classifiers."""
    own = getattr(module, "loss_function", None)
    if own is not None:
        return own(batch)
    x = batch[0]

    def loss(params: dict[str, torch.Tensor]) -> torch.Tensor:
        output = torch.func.functional_call(module, params, (x,))
        if hasattr(module, "targets"):
            target = module.targets(batch)
            return F.mse_loss(output.view_as(target), target)
        if len(batch) > 1 and not torch.is_floating_point(batch[1]):
            return F.cross_entropy(output, batch[1])
        raise TypeError(f"no loss of {type(module).__name__} as a function of its parameters is known")

    return loss


def bind_batch_loss(module: nn.Module, optimizers: Iterable[Optimizer], batch: Any) -> None:
    """Bind the loss on `batch` as a function of the parameters to each optimiser that takes one
    (line search, Newton's method); others are left alone, at no cost."""
    wanted = [getattr(o, "optimizer", o) for o in optimizers]  # a LightningOptimizer wraps the optimiser
    wanted = [o for o in wanted if isinstance(o, _WholeVectorOptimizer)]
    if not wanted:
        return
    names = {id(p): name for name, p in module.named_parameters()}
    for optimizer in wanted:
        loss = batch_loss_function(module, batch)
        keys = [names[id(p)] for p in optimizer._params]
        optimizer.bind_loss(lambda tensors, loss=loss, keys=keys: loss(dict(zip(keys, tensors, strict=True))))
