"""The diffusion model of book section 8.1: its noise schedule, forward process, loss and reverse process."""

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from mde_exp import store
from mde_exp.models.diffusion import Diffusion, linear_betas
from mde_exp.run import _build_model


def _model(**kwargs) -> Diffusion:
    torch.manual_seed(0)
    args = {"input_dim": 2, "timesteps": 50, "beta_start": 1e-3, "beta_end": 0.2, "hidden_sizes": [16, 16]}
    return Diffusion(**{**args, **kwargs})


def test_linear_schedule_shapes_and_alpha_bar():
    model = _model(timesteps=100, beta_start=1e-4, beta_end=0.05)
    for name in ("betas", "alphas", "alpha_bar", "posterior_variance"):
        assert getattr(model, name).shape == (100,), name
    assert model.betas[0].item() == pytest.approx(1e-4) and model.betas[-1].item() == pytest.approx(0.05)
    assert torch.allclose(model.betas.diff(), torch.full((99,), (0.05 - 1e-4) / 99), atol=1e-7)
    product, expected = 1.0, []
    for beta in model.betas.double().tolist():
        product *= 1.0 - beta
        expected.append(product)
    assert torch.allclose(model.alpha_bar.double(), torch.tensor(expected, dtype=torch.float64), rtol=1e-5)
    assert (model.alpha_bar.diff() < 0).all() and 0 < model.alpha_bar[-1] < model.alpha_bar[0] < 1
    assert (model.signal_to_noise().diff() < 0).all()
    # the posterior variance beta~_t lies between 0 (t = 1) and beta_t
    assert model.posterior_variance[0] == 0 and (model.posterior_variance <= model.betas + 1e-9).all()


@pytest.mark.parametrize(
    "kwargs",
    [{"network": "rnn"}, {"beta_start": 0.0}, {"beta_start": 0.1, "beta_end": 0.01}, {"beta_end": 1.0},
     {"timesteps": 0}, {"network": "conv"}, {"time_embedding_dim": 7}, {"data_range": [1.0, 0.0]}],
)  # fmt: skip
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        _model(**kwargs)
    with pytest.raises(ValueError, match="beta_start"):
        linear_betas(10, 0.5, 0.1)


def test_closed_form_matches_iterated_noising():
    """x_t from t one-step noisings x_s = sqrt(alpha_s) x_{s-1} + sqrt(beta_s) z has the mean and variance
    of q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I): Monte-Carlo over many chains."""
    model = _model()
    g = torch.Generator().manual_seed(1)
    n = 40_000
    x0 = torch.tensor([[1.5, -2.0]]).expand(n, 2)
    x = x0.clone()
    for t in range(model.timesteps):
        x = model.noise_step(x, t, torch.randn(x.shape, generator=g))
        if t in (0, 9, 24, 49):
            ab = model.alpha_bar[t]
            mean, var = ab.sqrt() * x0[0], 1 - ab
            se_mean, se_var = (var / n).sqrt(), var * (2 / (n - 1)) ** 0.5
            assert (x.mean(0) - mean).abs().max() < 5 * se_mean, t
            assert (x.var(0) - var).abs().max() < 5 * se_var, t
            closed = model.q_sample(x0, torch.full((n,), t), torch.randn(x.shape, generator=g))
            assert (closed.mean(0) - x.mean(0)).abs().max() < 7 * se_mean, t
    # at the end alpha_bar_T is small: x_T is nearly N(0, I) whatever x_0 was
    assert model.alpha_bar[-1] < 0.01 and (x.std(0) - 1).abs().max() < 0.02


def test_one_training_step_reaches_every_parameter():
    model = _model()
    x0 = torch.randn(32, 2)
    loss = model.loss(x0, generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss) and loss > 0
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    # the same generator gives the same times and noise, hence the same loss
    again = model.loss(x0, generator=torch.Generator().manual_seed(0))
    assert again.item() == pytest.approx(loss.item())


def test_training_lowers_the_loss_on_a_fixed_batch():
    model = _model()
    x0 = torch.randn(256, 2) * 0.3 + torch.tensor([1.0, -1.0])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def fixed_loss() -> torch.Tensor:
        return model.loss(x0, generator=torch.Generator().manual_seed(0))

    before = fixed_loss().item()
    for _ in range(100):
        optimizer.zero_grad()
        fixed_loss().backward()
        optimizer.step()
    assert fixed_loss().item() < 0.7 * before


def test_sampling_shape_and_reproducibility():
    model = _model()
    a = model.sample(7, generator=torch.Generator().manual_seed(3))
    b = model.sample(7, generator=torch.Generator().manual_seed(3))
    c = model.sample(7, generator=torch.Generator().manual_seed(4))
    assert a.shape == (7, 2) and torch.equal(a, b) and not torch.equal(a, c)
    x, kept = model.sample(5, generator=torch.Generator().manual_seed(3), keep=(50, 10, 0))
    assert set(kept) == {50, 10, 0} and torch.equal(kept[0], x) and kept[50].shape == (5, 2)
    assert model.training  # the mode is restored


def test_data_range_maps_to_minus_one_one_and_back():
    model = _model(data_range=[0.0, 16.0])
    x = torch.tensor([[0.0, 16.0], [8.0, 4.0]])
    assert torch.allclose(model.to_model_space(x), torch.tensor([[-1.0, 1.0], [0.0, -0.5]]))
    assert torch.allclose(model.to_data_space(model.to_model_space(x)), x)
    # samples come back in the data's scale: the point-mass oracle at model-space 0 gives 8 = the middle
    model.net = GaussianOracle(model, torch.zeros(2), 0.0)
    assert torch.allclose(
        model.sample(4, generator=torch.Generator().manual_seed(0)), torch.full((4, 2), 8.0)
    )


class GaussianOracle(nn.Module):
    """The exact noise predictor E[eps | x_t] for data x_0 ~ N(m, s^2 I)."""

    def __init__(self, model: Diffusion, m: torch.Tensor, s: float) -> None:
        super().__init__()
        self.model, self.m, self.s = [model], m, s

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = self.model[0].alpha_bar[t][:, None]
        return (1 - ab).sqrt() * (x - ab.sqrt() * self.m) / (ab * self.s**2 + 1 - ab)


def test_ancestral_sampling_with_the_exact_denoiser_recovers_the_data():
    """With the optimal eps_theta the reverse process maps N(0, I) back to the data distribution: for a
    point mass at 0 every sample is exactly 0; for N(m, s^2 I) the samples have mean m and std s."""
    model = _model(timesteps=200, beta_start=1e-4, beta_end=0.05)
    model.net = GaussianOracle(model, torch.zeros(2), 0.0)
    x = model.sample(100, generator=torch.Generator().manual_seed(0))
    assert x.abs().max() < 1e-4
    m, s = torch.tensor([3.0, -1.0]), 0.5
    model.net = GaussianOracle(model, m, s)
    x = model.sample(20_000, generator=torch.Generator().manual_seed(0))
    assert (x.mean(0) - m).abs().max() < 0.03 and (x.std(0) - s).abs().max() < 0.03
    # the denoiser of other data (std 10) gives other samples: the check can fail
    model.net = GaussianOracle(model, torch.zeros(2), 10.0)
    assert (model.sample(2000, generator=torch.Generator().manual_seed(0)).std(0) - s).abs().max() > 1


def test_conv_network_on_digit_images_from_the_config():
    cfg = store.compose(
        ["model=diffusion", "data=digits", "data.flatten=false", "model.network=conv",
         "model.hidden_sizes=[8,8]", "model.timesteps=20"]
    )  # fmt: skip
    dm = instantiate(cfg.data)
    dm.setup()
    model = _build_model(cfg, dm)
    assert isinstance(model.net, nn.Module) and type(model.net).__name__ == "ConvDenoiser"
    x0 = dm.splits["train"][0][:6]
    assert x0.shape == (6, 1, 8, 8) and model(x0).shape == x0.shape
    model.loss(x0).backward()
    assert all(p.grad is not None for p in model.parameters())
    assert model.sample(3, generator=torch.Generator().manual_seed(0)).shape == (3, 64)
    # flat digits with the conv network: reshaped by input_shape
    cfg = store.compose(["model=diffusion", "data=digits", "model.network=conv", "model.hidden_sizes=[8]"])
    dm = instantiate(cfg.data)
    dm.setup()
    model = _build_model(cfg, dm)
    assert model(dm.splits["train"][0][:4]).shape == (4, 64)
