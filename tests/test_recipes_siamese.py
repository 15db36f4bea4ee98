"""siamese (book section 6.5) at the smallest scale: its experiment config, claims, values and figure."""

from mde_exp import sweep
from mde_exp.recipes import load_recipes
from mde_exp.store import compose

from .conftest import reproduce_at_smallest_scale


def test_the_experiment_trains_on_digits_0_to_6_with_either_loss():
    cfg = compose(["+experiment=siamese_digits"])
    assert cfg.model._target_ == "mde_exp.models.siamese.Siamese" and cfg.model.loss == "contrastive"
    assert list(cfg.data.classes) == list(range(7)) and cfg.data._target_.endswith("MNIST5kDataModule")
    assert cfg.figure_id == "siamese" and cfg.book_section == "6.5"
    cfg = compose(["+experiment=siamese_digits", "model=siamese_triplet"])
    assert cfg.model.loss == "triplet" and cfg.model.mining == "all" and cfg.model.embedding_dim == 16
    jobs = sweep.expand([], sweep.sweep_params(compose(["+experiment=siamese_digits"], True).hydra))
    assert jobs == [["model=siamese"], ["model=siamese_triplet"]]
    recipe = load_recipes()["siamese"]
    assert recipe.chapter == 6 and recipe.book_ref.startswith("Section 6.5")


def test_siamese_at_the_smallest_scale(tmp_path, one_thread):
    record = reproduce_at_smallest_scale(tmp_path, ["siamese"])["siamese"]
    values = record["values"]
    assert len(record["runs"]) == 2 and len(record["claims"]) == 4
    assert all(claim["book_value"] is None for claim in record["claims"])
    assert set(values["rate"]) == {"pixels", "contrastive", "triplet"}
    assert values["sizes"]["unseen"] == 1500  # every 7, 8 and 9 of the 5,000 digits
    for loss in ("contrastive", "triplet"):
        rate, one_shot = values["rate"][loss], values["one_shot"][loss]
        assert rate["seen"] > 0.9 and rate["seen"] > values["rate"]["pixels"]["seen"] + 0.1
        assert rate["unseen"] > values["rate"]["pixels"]["unseen"]
        assert one_shot["seen"] > 2 / 7 and one_shot["unseen"] > 1 / 3  # above chance (1/7 and 1/3)
        distance = values["mean_distance"][loss]["seen"]
        assert distance["same"] < distance["different"]
        assert {"test/loss", "test/pair_acc", "test/knn_acc"} <= set(values["test_metrics"][loss])
        assert values["test_metrics"][loss]["test/knn_acc"] > 0.7
