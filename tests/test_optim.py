"""mde_exp.optim: the book's momentum against torch's, exact line search and Newton's method, alone and
inside Lightning runs (with the closure Lightning passes); L-BFGS and Newton on logistic regression."""

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from sklearn.linear_model import LogisticRegression as SkLogisticRegression

from mde_exp import store
from mde_exp.objectives import quartic, rosenbrock
from mde_exp.optim import BookMomentum, ExactLineSearch, Newton, line_minimum
from mde_exp.parameter_path import path_array, read_parameter_path
from mde_exp.run import execute


def _rosenbrock_grad(t: np.ndarray) -> np.ndarray:
    return np.array([-2 * (1 - t[0]) - 400 * t[0] * (t[1] - t[0] ** 2), 200 * (t[1] - t[0] ** 2)])


def _run(optimizer_factory, steps: int, start=(0.4, -0.2), bind: bool = False):
    theta = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
    opt = optimizer_factory([theta])
    if bind:
        opt.bind_loss(lambda params: rosenbrock(params[0]))

    def closure():
        opt.zero_grad()
        loss = rosenbrock(theta)
        loss.backward()
        return loss

    path = [theta.detach().clone()]
    for _ in range(steps):
        opt.step(closure)
        path.append(theta.detach().clone())
    return torch.stack(path).numpy(), opt


def test_book_momentum_is_the_book_recursion():
    alpha, beta = 0.01, 0.9
    path, _ = _run(lambda p: BookMomentum(p, lr=alpha, momentum=beta), 50)
    t, v = np.array([0.4, -0.2]), np.zeros(2)
    for k in range(50):
        v = beta * v + (1 - beta) * _rosenbrock_grad(t)
        t = t - alpha * v
        np.testing.assert_allclose(path[k + 1], t, rtol=1e-10, atol=1e-12)


def test_book_momentum_equals_torch_momentum_with_the_rate_times_one_minus_beta():
    for beta in (0.9, 0.5, 0.0):
        alpha = 0.001 / (1 - beta)  # fig-4.6's rates
        book, _ = _run(lambda p, a=alpha, b=beta: BookMomentum(p, lr=a, momentum=b), 300)
        torch_form, _ = _run(lambda p, a=alpha, b=beta: torch.optim.SGD(p, lr=a * (1 - b), momentum=b), 300)
        np.testing.assert_allclose(book, torch_form, rtol=1e-9, atol=1e-12)


def test_torch_dampening_differs_from_the_book_by_a_fading_start_up_term():
    # torch: u_1 = g_1, u_t = beta u_{t-1} + (1 - beta) g_t; book: v_0 = 0. On C = theta^2 / 2 (g = theta),
    # with theta fixed by lr ~ 0, u_t - v_t = beta^t g_1 exactly.
    beta = 0.8
    grads = [torch.tensor([1.0, -2.0], dtype=torch.float64) * (k + 1) for k in range(8)]
    p_book = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    p_torch = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    book = BookMomentum([p_book], lr=1e-300, momentum=beta)
    damped = torch.optim.SGD([p_torch], lr=1e-300, momentum=beta, dampening=beta)
    for t, g in enumerate(grads, start=1):
        p_book.grad, p_torch.grad = g.clone(), g.clone()
        book.step()
        damped.step()
        diff = damped.state[p_torch]["momentum_buffer"] - book.state[p_book]["velocity"]
        torch.testing.assert_close(diff, beta**t * grads[0], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="momentum"):
        BookMomentum([p_book], lr=0.1, momentum=1.0)


def test_line_minimum_finds_the_minimum_of_a_parabola_and_refuses_an_ascent():
    assert line_minimum(lambda a: (a - 3.0) ** 2, 9.0, first=0.01) == pytest.approx(3.0, rel=1e-8)
    assert line_minimum(lambda a: (a - 3.0) ** 2, 9.0, first=100.0) == pytest.approx(3.0, rel=1e-8)
    assert line_minimum(lambda a: 1.0 + a, 1.0, first=1.0) == 0.0


@pytest.mark.parametrize("bind", [True, False])
def test_exact_line_search_steps_are_orthogonal_and_descend(bind):
    path, opt = _run(lambda p: ExactLineSearch(p, lr=1e-3), 40, bind=bind)
    steps = np.diff(path, axis=0)
    cos = (
        np.sum(steps[1:] * steps[:-1], axis=1)
        / np.linalg.norm(steps[1:], axis=1)
        / np.linalg.norm(steps[:-1], axis=1)
    )
    assert np.abs(cos).max() < 1e-5  # consecutive directions are orthogonal: the zig-zag
    values = rosenbrock(torch.from_numpy(path)).numpy()
    assert np.all(np.diff(values) < 0)
    assert len(opt.state["line_search"]["alphas"]) == 40


def test_newton_in_one_dimension_is_t_minus_c1_over_c2():
    def c1(t):
        return 4 * t**3 - 12 * t**2 - 4 * t + 10

    def c2(t):
        return 12 * t**2 - 24 * t - 4

    for start in (2.5, 1.7):
        theta = torch.nn.Parameter(torch.tensor([start], dtype=torch.float64))
        opt = Newton([theta])
        opt.bind_loss(lambda params: quartic(params[0]))
        opt.step()  # no closure: the gradient comes from the bound loss too
        assert float(theta.detach()) == pytest.approx(start - c1(start) / c2(start), rel=1e-12)
    assert float(c2(torch.tensor(1.7))) < 0  # the concave case: the step heads for a maximum


def test_newton_minimises_a_quadratic_in_one_step_and_needs_a_bound_loss():
    a = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    b = torch.tensor([1.0, -1.0], dtype=torch.float64)
    theta = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    opt = Newton([theta])
    opt.bind_loss(lambda params: 0.5 * params[0] @ a @ params[0] - b @ params[0])
    opt.step()
    torch.testing.assert_close(theta.detach(), torch.linalg.solve(a, b))
    torch.testing.assert_close(opt.state["newton"]["hessian"], a)
    with pytest.raises(RuntimeError, match="bind_loss"):
        Newton([torch.nn.Parameter(torch.zeros(1))]).step()


def _stored(tmp_path, overrides):
    cfg = store.compose(["logger=none", f"store.root={tmp_path}", "callbacks=parameter_path", *overrides])
    result = execute(cfg)
    assert result.status == "finished"
    return result, *read_parameter_path(result.dir)


def test_newton_and_line_search_inside_lightning_runs(tmp_path, one_thread):
    # fig-4.10's first step from 2.5, through a stored run with Lightning's closure
    newton = ["data=quartic", "model=objective", "model.start=[2.5]", "optimizer=newton"]
    _, frame, _ = _stored(tmp_path, [*newton, "trainer.max_epochs=8"])
    theta = path_array(frame)[:, 0]
    assert theta[1] == pytest.approx(2.5 + 12.5 / 11, rel=1e-12)  # 2.5 - C'(2.5) / C''(2.5) = 3.636...
    assert abs(4 * theta[-1] ** 3 - 12 * theta[-1] ** 2 - 4 * theta[-1] + 10) < 1e-9  # C'(theta) = 0
    # exact line search through Lightning: the same path as the plain loop above
    search = ["data=rosenbrock", "model=objective", "model.start=[0.4,-0.2]", "optimizer=line_search"]
    _, frame, _ = _stored(tmp_path, [*search, "data.steps_per_epoch=10", "trainer.max_epochs=2"])
    plain, _ = _run(lambda p: ExactLineSearch(p, lr=1e-3), 20, bind=True)
    np.testing.assert_allclose(path_array(frame), plain, rtol=1e-9, atol=1e-12)
    assert frame["loss"].iloc[0] == pytest.approx(float(rosenbrock(torch.tensor([0.4, -0.2]))))


def test_book_momentum_and_exponential_schedule_per_step_in_a_run(tmp_path, one_thread):
    momentum = ["optimizer=book_momentum", "optimizer.lr=0.002", "optimizer.momentum=0.5"]
    decay = ["scheduler=exponential", "scheduler.gamma=0.99"]
    steps = ["data.steps_per_epoch=5", "trainer.max_epochs=4"]
    _, frame, _ = _stored(tmp_path, ["data=rosenbrock", "model=objective", *momentum, *decay, *steps])
    t, v, alpha = np.array([0.2, -0.2]), np.zeros(2), 0.002
    for k in range(20):  # alpha_t = alpha_0 0.99^t, decayed after every step (not every epoch)
        v = 0.5 * v + 0.5 * _rosenbrock_grad(t)
        t = t - alpha * v
        alpha *= 0.99
        np.testing.assert_allclose(path_array(frame)[k + 1], t, rtol=1e-10)


def test_newton_and_lbfgs_fit_logistic_regression_to_the_maximum_likelihood(tmp_path, one_thread):
    base = ["model=logistic_regression", "data=wdbc", "data.features=[area_mean,texture_mean]",
            "data.batch_size=1000", "data.val_size=0", "trainer.max_epochs=12"]  # fmt: skip
    newton, frame, _ = _stored(tmp_path, [*base, "optimizer=newton"])
    lbfgs, _, _ = _stored(tmp_path, [*base, "optimizer=lbfgs"])
    newton_dm = instantiate(OmegaConf.load(newton.dir / "config.yaml").data)
    newton_dm.setup()
    x, y = (t.numpy() for t in newton_dm.splits["train"])
    reference = SkLogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000).fit(x, y)
    w_names = [c for c in frame.columns if c.endswith(("weight.0", "weight.1"))]
    assert len(w_names) == 2, frame.columns
    weights = frame[w_names].to_numpy()[-1]
    np.testing.assert_allclose(weights, reference.coef_[0], rtol=1e-4)  # float32 fits
    assert newton.metrics["train_eval/loss"] == pytest.approx(lbfgs.metrics["train_eval/loss"], rel=1e-4)
    losses = frame["loss"].to_numpy()[:-1]
    assert np.all(np.diff(losses[:6]) < 0) and abs(losses[6] - losses[-1]) < 1e-6  # converged in 6 steps
