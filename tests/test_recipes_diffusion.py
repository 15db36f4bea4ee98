"""diffusion-forward, diffusion-samples and diffusion-digits (book section 8.1) at the smallest scale."""

import torch

from mde_exp.recipes import load_recipes
from mde_exp.sample_distance import energy_distance
from mde_exp.store import compose

from .conftest import reproduce_at_smallest_scale


def test_experiment_config_and_recipes():
    cfg = compose(["+experiment=diffusion_toy"])
    assert cfg.model._target_ == "mde_exp.models.diffusion.Diffusion" and cfg.model.network == "mlp"
    assert cfg.data.generator._target_.endswith("gaussian_mixture") and cfg.figure_id == "diffusion-samples"
    cfg = compose(["+experiment=diffusion_digits"])
    assert cfg.data._target_.endswith("DigitsDataModule") and list(cfg.model.data_range) == [0, 1]
    recipes = load_recipes()
    for rid in ("diffusion-forward", "diffusion-samples", "diffusion-digits"):
        assert recipes[rid].chapter == 8 and recipes[rid].book_ref.startswith("Section 8.1")


def test_energy_distance_separates_distributions():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(500, 2, generator=g), torch.randn(500, 2, generator=g)
    shifted = torch.randn(500, 2, generator=g) + torch.tensor([1.0, 0.0])
    same, apart = energy_distance(a, b), energy_distance(a, shifted)
    assert 0 <= same < 0.02 < 0.3 < apart  # N(0, I) vs N((1, 0), I): 2 E|X - Y| - 2 E|X - X'| ~ 0.4
    assert energy_distance(a, a) == 0.0
    # the V-statistic is never negative, even for two draws of one distribution
    draws = [
        energy_distance(torch.randn(20, 3, generator=g), torch.randn(30, 3, generator=g)) for _ in range(50)
    ]
    assert min(draws) >= 0


def test_diffusion_recipes_at_the_smallest_scale(tmp_path, one_thread):
    records = reproduce_at_smallest_scale(
        tmp_path, ["diffusion-forward", "diffusion-samples", "diffusion-digits"]
    )
    forward = records["diffusion-forward"]["values"]
    assert forward["timesteps"] == 1000 and forward["alpha_bar"]["1000"] < 1e-3
    assert abs(forward["x_T_mean"]) < 0.03 and abs(forward["x_T_std"] - 1) < 0.03
    samples = records["diffusion-samples"]["values"]
    for name in ("ring", "moons"):
        distance = samples[name]["energy_distance"]
        assert (
            distance["training points (floor)"]
            < distance["diffusion samples"]
            < 0.2 * distance["noise x_T ~ N(0, I)"]
        )
        assert samples[name]["final_val_loss"] < samples[name]["first_val_loss"]
    assert len(samples["component_share"]) == 8 and len(records["diffusion-samples"]["runs"]) == 2
    digits = records["diffusion-digits"]["values"]
    assert digits["energy_distance"]["diffusion samples"] < 0.05 * digits["energy_distance"]["noise x_T"]
    assert digits["final_val_loss"] < digits["first_val_loss"]
