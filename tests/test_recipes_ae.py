"""fig-3.12, fig-3.13, fig-3.14 and fig-3.16 (book section 3.5, autoencoders) at the smallest scale."""

from pathlib import Path

from omegaconf import OmegaConf

from .conftest import reproduce_at_smallest_scale

IDS = ("fig-3.12", "fig-3.13", "fig-3.14", "fig-3.16")


def test_autoencoder_recipes_at_the_smallest_scale(tmp_path, one_thread):
    records = reproduce_at_smallest_scale(tmp_path, IDS)
    runs = tmp_path / "runs"

    # fig-3.12: PCA's errors fall with the number of components; the autoencoders' logged test errors
    # are what the recipe recomputes from their checkpoints.
    mse = records["fig-3.12"]["values"]["test_mse"]
    assert mse["PCA 2"] > mse["PCA 10"] > mse["PCA 30"] > 0
    logged = records["fig-3.12"]["values"]["logged_test_mse"]
    assert abs(logged["deep"] - mse["deep AE (code 10)"]) < 1e-5
    assert records["fig-3.12"]["values"]["train_digits"] == 1000

    # fig-3.13: the deeper autoencoder is near the noise floor, the book's 2-1-2 near PCA.
    curve = records["fig-3.13"]["values"]
    assert (
        curve["ratio_to_pca"]["2-8-1-8-2 autoencoder"]
        < 0.25
        < 0.75
        < curve["ratio_to_pca"]["book's 2-1-2 autoencoder"]
    )
    assert curve["mse"]["2-8-1-8-2 autoencoder"] < 3 * curve["noise_floor"]
    assert len(records["fig-3.13"]["runs"]) == 2

    # fig-3.14: three two-dimensional codes, each above chance.
    accuracy = records["fig-3.14"]["values"]["knn_test_accuracy"]
    assert len(accuracy) == 3 and min(accuracy.values()) > 0.2

    # fig-3.16 interpolates with fig-3.12's deep autoencoder: the same run, trained once.
    shared = set(records["fig-3.12"]["runs"]) & set(records["fig-3.16"]["runs"])
    assert len(shared) == 1
    assert list(OmegaConf.load(Path(shared.pop()) / "config.yaml").model.encoder_sizes) == [50, 10]
    interpolation = records["fig-3.16"]["values"]
    assert interpolation["fraction_code_midpoint_nearer"] > 0.75
    assert 0 <= interpolation["fraction_code_p3_higher"] <= 1
    for run in (Path(r) for record in records.values() for r in record["runs"]):
        assert run.parent.parent == runs and (run / "checkpoints" / "last.ckpt").is_file()
