"""The VAE of book section 8.2: its KL term, reparameterisation, likelihoods, ELBO and training."""

import math

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from torch.distributions import Bernoulli, Normal

from mde_exp import store
from mde_exp.models.vae import VAE, kl_divergence, reparameterize
from mde_exp.run import _build_model


def _vae(**kwargs) -> VAE:
    torch.manual_seed(0)
    kwargs.setdefault("input_dim", 64)
    kwargs.setdefault("input_shape", (1, 8, 8))
    return VAE(optimizer=lambda p: torch.optim.Adam(p, lr=3e-3), **kwargs)


def test_kl_term_is_the_closed_form_and_its_monte_carlo_estimate():
    torch.manual_seed(0)
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    kl = kl_divergence(mu, logvar)
    q, p = Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros(3), torch.ones(3))
    torch.testing.assert_close(kl, torch.distributions.kl_divergence(q, p).sum(1))
    z = q.sample((200_000,))  # E_q[log q(z) - log p(z)]
    monte_carlo = (q.log_prob(z) - p.log_prob(z)).sum(-1).mean(0)
    torch.testing.assert_close(kl, monte_carlo, atol=0.03, rtol=0.01)
    assert torch.all(kl > 0) and torch.allclose(
        kl_divergence(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2)
    )


def test_reparameterisation_gives_the_draws_and_gradients_of_q():
    torch.manual_seed(0)
    mu = torch.tensor([0.5, -1.0], requires_grad=True)
    logvar = torch.tensor([0.2, -0.4], requires_grad=True)
    z = reparameterize(mu.expand(200_000, 2), logvar.expand(200_000, 2))
    torch.testing.assert_close(z.mean(0), mu.detach(), atol=0.01, rtol=0)
    torch.testing.assert_close(z.var(0), logvar.detach().exp(), atol=0.02, rtol=0)
    # d/d(mu, logvar) of E[z^2] = mu^2 + sigma^2 is (2 mu, sigma^2): the pathwise gradient recovers it
    (z**2).mean(0).sum().backward()
    torch.testing.assert_close(mu.grad, 2 * mu.detach(), atol=0.02, rtol=0)
    torch.testing.assert_close(logvar.grad, logvar.detach().exp(), atol=0.02, rtol=0)


@pytest.mark.parametrize("architecture", ["mlp", "conv"])
def test_gradients_flow_through_the_draw_to_the_encoder(architecture):
    model = _vae(architecture=architecture)
    x = torch.rand(8, 1, 8, 8)
    mu, logvar = model.encode(x)
    mu.retain_grad(), logvar.retain_grad()
    eps = torch.randn_like(mu)
    recon = -model.log_likelihood(x, reparameterize(mu, logvar, eps)).sum()
    recon.backward()  # the reconstruction term alone reaches the encoder only through z
    assert mu.grad.abs().sum() > 0 and logvar.grad.abs().sum() > 0
    torch.testing.assert_close(logvar.grad, 0.5 * mu.grad * (0.5 * logvar).exp() * eps)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())


def test_likelihoods_are_the_bernoulli_and_gaussian_log_densities():
    z = torch.randn(5, 2)
    x = torch.bernoulli(torch.full((5, 64), 0.3))
    model = _vae(architecture="mlp")
    torch.testing.assert_close(
        model.log_likelihood(x, z), Bernoulli(logits=model.decoder_output(z)).log_prob(x).sum(1)
    )
    model = _vae(likelihood="gaussian", decoder_std=0.2)
    x = torch.rand(5, 64)
    torch.testing.assert_close(model.log_likelihood(x, z), Normal(model.decode(z), 0.2).log_prob(x).sum(1))


def test_elbo_is_a_lower_bound_of_the_importance_sampled_log_likelihood():
    model = _vae(latent_dim=2).eval()
    x = torch.rand(6, 64)
    with torch.no_grad():
        draws = torch.stack([model.elbo_terms(x)["elbo"] for _ in range(300)])  # 300 draws each
        mu, logvar = model.encode(x)
        q = Normal(mu, (0.5 * logvar).exp())
        z = q.sample((2000,))
        weights = torch.stack([model.log_likelihood(x, zk) for zk in z]) + (
            Normal(0.0, 1.0).log_prob(z) - q.log_prob(z)
        ).sum(-1)
        log_px = torch.logsumexp(weights, 0) - math.log(len(z))  # a tighter bound (IWAE, K = 2000)
    elbo = draws.mean(0)
    assert torch.all(elbo <= log_px + 0.05), (elbo, log_px)
    # and the ELBO's expected value is the same, sampled by elbo_terms or by hand
    torch.testing.assert_close(elbo, weights.mean(0), atol=1.0, rtol=0.02)


@pytest.mark.parametrize("architecture", ["mlp", "conv"])
def test_a_few_steps_raise_the_elbo(architecture):
    model = _vae(architecture=architecture)
    dm = instantiate(store.compose(["data=digits"]).data)
    dm.setup()
    x = dm.splits["train"][0][:256]
    optimizer = model.optimizer_factory(model.parameters())
    torch.manual_seed(1)
    before = -model.elbo_terms(x)["elbo"].mean().item()
    for _ in range(40):
        loss = -model.elbo_terms(x)["elbo"].mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = -model.elbo_terms(x)["elbo"].mean().item()
    assert after < before - 5.0, (before, after)


def test_one_training_step_logs_both_terms_and_the_elbo(tmp_path):
    cfg = store.compose(["model=vae", "data=digits", "model.latent_dim=3"])
    dm = instantiate(cfg.data)
    dm.setup()
    model = _build_model(cfg, dm)
    assert model.latent_dim == 3 and model.data_shape == (1, 8, 8)
    trainer = L.Trainer(
        fast_dev_run=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=tmp_path,
    )  # fmt: skip
    before = [p.detach().clone() for p in model.parameters()]
    trainer.fit(model, dm)
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))
    logged = trainer.logged_metrics
    for stage in ("train", "val"):
        assert {f"{stage}/{t}" for t in ("recon", "kl", "elbo")} <= set(logged)
        torch.testing.assert_close(
            logged[f"{stage}/elbo"], -(logged[f"{stage}/recon"] + logged[f"{stage}/kl"])
        )
        assert logged[f"{stage}/kl"] > 0


@pytest.mark.parametrize("option", ["vae", "vae_conv"])
def test_samples_from_the_prior_are_images_in_the_unit_interval(option):
    cfg = store.compose([f"model={option}", "data=digits"])
    dm = instantiate(cfg.data)
    model = _build_model(cfg, dm)
    assert model.hparams.architecture == {"vae": "mlp", "vae_conv": "conv"}[option]
    samples = model.sample(7, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (7, 1, 8, 8) and samples.min() >= 0 and samples.max() <= 1
    again = model.sample(7, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(samples, again)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"architecture": "rnn"}, "model.architecture"),
        ({"likelihood": "poisson"}, "model.likelihood"),
        ({"latent_dim": 0}, "model.latent_dim"),
        ({"decoder_std": 0.0}, "model.decoder_std"),
        ({"architecture": "conv", "input_shape": (1, 6, 6)}, "model.channels"),
        ({"architecture": "conv", "input_shape": None}, "model.architecture"),
    ],
)
def test_bad_arguments_name_the_key(kwargs, key):
    with pytest.raises(ValueError, match=key):
        _vae(**kwargs)
