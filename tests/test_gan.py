"""The GAN and WGAN-GP of book section 8.3: loss pieces by hand, the gradient penalty, manual optimisation."""

import math

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from mde_exp import store
from mde_exp.models.gan import (
    GAN,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    wasserstein_estimate,
)
from mde_exp.run import _build_model


def _sigmoid(t: float) -> float:
    return 1 / (1 + math.exp(-t))


def test_discriminator_and_generator_losses_on_hand_made_logits():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    expected_d = -(
        (math.log(_sigmoid(2.0)) + math.log(_sigmoid(-1.0))) / 2
        + (math.log(1 - _sigmoid(0.5)) + math.log(1 - _sigmoid(-3.0))) / 2
    )
    assert discriminator_loss(real, fake).item() == pytest.approx(expected_d, rel=1e-6)
    minimax = (math.log(1 - _sigmoid(0.5)) + math.log(1 - _sigmoid(-3.0))) / 2
    non_saturating = -(math.log(_sigmoid(0.5)) + math.log(_sigmoid(-3.0))) / 2
    assert generator_loss(fake, "minimax").item() == pytest.approx(minimax, rel=1e-6)
    assert generator_loss(fake, "non_saturating").item() == pytest.approx(non_saturating, rel=1e-6)
    # stable for large logits (log-sigmoid, not log of a sigmoid that rounds to 0 or 1)
    assert torch.isfinite(discriminator_loss(torch.tensor([-200.0]), torch.tensor([200.0])))
    assert wasserstein_estimate(real, fake).item() == pytest.approx(0.5 - (-1.25))
    with pytest.raises(ValueError, match="loss='hinge'"):
        generator_loss(fake, "hinge")


def test_minimax_generator_loss_saturates_where_the_non_saturating_one_does_not():
    # D rejects the samples confidently (logit -8): the minimax loss's gradient all but vanishes
    logits = torch.tensor([-8.0], requires_grad=True)
    (g_minimax,) = torch.autograd.grad(generator_loss(logits, "minimax"), logits)
    (g_ns,) = torch.autograd.grad(generator_loss(logits, "non_saturating"), logits)
    assert abs(g_minimax.item()) < 1e-3 < 0.99 < abs(g_ns.item())


def test_gradient_penalty_equals_a_hand_computation_on_a_toy_critic():
    # f(x) = w . x + x_1^2: grad f = w + (2 x_1, 0); penalty = mean over examples (||grad f||_2 - 1)^2
    w = nn.Parameter(torch.tensor([3.0, 4.0]))

    def critic(x: torch.Tensor) -> torch.Tensor:
        return x @ w + x[:, 0] ** 2

    real = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    fake = torch.tensor([[0.0, 0.0], [2.0, 2.0]])
    eps = torch.tensor([0.5, 0.25])
    mixed = [[0.5, 0.0], [1.5, 2.0]]  # eps * real + (1 - eps) * fake
    by_hand = sum((math.hypot(3 + 2 * m[0], 4) - 1) ** 2 for m in mixed) / 2
    penalty = gradient_penalty(critic, real, fake, eps)
    assert penalty.item() == pytest.approx(by_hand, rel=1e-6)
    # differentiable in the critic's parameters: d/dw_2 = mean 2 (||g|| - 1) w_2 / ||g||
    penalty.backward()
    expected = sum(2 * (math.hypot(3 + 2 * m[0], 4) - 1) * 4 / math.hypot(3 + 2 * m[0], 4) for m in mixed) / 2
    assert w.grad[1].item() == pytest.approx(expected, rel=1e-5)


def test_a_linear_critic_of_unit_slope_has_no_penalty():
    critic = nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[0.6, 0.0, 0.8]]))
    real, fake = torch.randn(4, 3), torch.randn(4, 3)
    assert gradient_penalty(critic, real, fake, torch.rand(4)).item() == pytest.approx(0.0, abs=1e-10)


def test_bad_arguments_are_refused():
    for kwargs, key in (
        ({"loss": "hinge"}, "loss"),
        ({"n_critic": 0}, "n_critic"),
        ({"gp_weight": -1.0}, "gp_weight"),
    ):
        with pytest.raises(ValueError, match=key):
            GAN(input_dim=2, **kwargs)


def _train_one_epoch(model: GAN, batches: int) -> dict[str, torch.Tensor]:
    x = torch.randn(batches * 8, 2)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", limit_val_batches=0)  # fmt: skip
    trainer.fit(model, train_dataloaders=loader)
    return before, trainer


@pytest.mark.parametrize("loss", ["non_saturating", "minimax", "wasserstein"])
def test_one_training_step_changes_both_networks(loss):
    torch.manual_seed(0)
    model = GAN(input_dim=2, latent_dim=2, generator_sizes=[8], discriminator_sizes=[8], loss=loss,
                optimizer=lambda p: torch.optim.SGD(p, lr=0.1))  # fmt: skip
    before, trainer = _train_one_epoch(model, batches=1)
    after = model.state_dict()
    for prefix in ("generator.", "discriminator."):
        changed = [k for k in before if k.startswith(prefix) and not torch.equal(before[k], after[k])]
        assert changed, f"{prefix} parameters did not change"
    assert {"train/d_loss", "train/g_loss"} <= set(trainer.callback_metrics)
    if loss == "wasserstein":
        assert {"train/wasserstein", "train/gradient_penalty"} <= set(trainer.callback_metrics)


def test_n_critic_discriminator_steps_per_generator_step():
    torch.manual_seed(0)
    model = GAN(input_dim=2, latent_dim=2, generator_sizes=[8], discriminator_sizes=[8], loss="wasserstein",
                n_critic=3, optimizer=lambda p: torch.optim.SGD(p, lr=0.1))  # fmt: skip
    before, trainer = _train_one_epoch(model, batches=2)  # two critic steps: no generator step yet
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("generator."))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("discriminator."))
    assert trainer.global_step == 2  # manual optimisation counts optimiser steps: two critic steps


@pytest.mark.parametrize("option,data", [("gan", "gaussian_mixture"), ("wgan", "digits")])
def test_configs_compose_and_build(option, data):
    cfg = store.compose([f"model={option}", f"data={data}"])
    dm = instantiate(cfg.data)
    dm.setup()
    model = _build_model(cfg, dm)
    assert model.loss == ("wasserstein" if option == "wgan" else "non_saturating")
    x = dm.splits["train"][0][:5]
    assert model(x).shape == (5,)
    assert model.sample(7).shape == (7, x[0].numel())
    g_opt, d_opt = model.configure_optimizers()
    assert {id(p) for p in g_opt.param_groups[0]["params"]} == {id(p) for p in model.generator.parameters()}
    assert {id(p) for p in d_opt.param_groups[0]["params"]} == {
        id(p) for p in model.discriminator.parameters()
    }
