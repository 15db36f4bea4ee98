"""vae-latent at the smallest scale: its sweep, claims, values and figure."""

from mde_exp import sweep
from mde_exp.recipes import load_recipes
from mde_exp.store import compose

from .conftest import reproduce_at_smallest_scale

RID = "vae-latent"


def test_sweep_trains_an_mlp_and_a_conv_vae_with_a_2d_latent_on_digits():
    cfg = compose(["+experiment=vae_latent"], return_hydra_config=True)
    jobs = sweep.expand([], sweep.sweep_params(cfg.hydra))
    assert {tuple(j) for j in jobs} == {("model.architecture=mlp",), ("model.architecture=conv",)}
    cfg = compose(["+experiment=vae_latent", "model.architecture=conv"])
    assert cfg.model._target_ == "mde_exp.models.vae.VAE" and cfg.model.latent_dim == 2
    assert cfg.model.likelihood == "bernoulli" and cfg.data.normalize == "unit"  # pixels in [0, 1]
    assert cfg.data._target_.endswith("DigitsDataModule") and cfg.figure_id == RID
    recipe = load_recipes()[RID]
    assert recipe.chapter == 8 and recipe.book_ref.startswith("Section 8.2")


def test_vae_latent_at_the_smallest_scale(tmp_path, one_thread):
    record = reproduce_at_smallest_scale(tmp_path, [RID])[RID]
    values = record["values"]
    for arch in ("mlp", "conv"):
        # the untrained Bernoulli decoder gives about 64 log 2 = 44 nats per 8x8 image; training gains
        assert values["val_elbo_untrained"][arch] < -35
        assert values["val_elbo_final"][arch] > values["val_elbo_untrained"][arch] + 10
        assert values["val_kl_final"][arch] > 0.1
        assert 0.3 < values["knn_accuracy"][arch] <= 1.0
        test = values["test"][arch]
        assert abs(test["test/elbo"] + test["test/recon"] + test["test/kl"]) < 1e-3
    assert len(record["runs"]) == 2
