"""abl-cnn-architectures at the smallest scale: six architectures trained alike, their claims and values."""

from mde_exp import sweep
from mde_exp.recipes import load_recipes
from mde_exp.store import compose

from .conftest import reproduce_at_smallest_scale

RID = "abl-cnn-architectures"
MODELS = ["mlp_relu_tanh", "convnet", "lenet5", "vgg", "inception", "resnet"]


def test_the_experiment_sweeps_the_six_architectures_alike():
    cfg = compose(["+experiment=cnn_architectures"], return_hydra_config=True)
    jobs = sweep.expand([], sweep.sweep_params(cfg.hydra))
    assert [job[0] for job in jobs] == [f"model={m}" for m in MODELS]
    for model in MODELS:
        cfg = compose(["+experiment=cnn_architectures", f"model={model}"])
        assert cfg.optimizer._target_ == "torch.optim.Adam" and cfg.data._target_.endswith(
            "MNIST5kDataModule"
        )
        assert cfg.figure_id == RID and cfg.experiment == "cnn_architectures"
    recipe = load_recipes()[RID]
    assert recipe.chapter == 6 and recipe.book_ref == "Sections 6.3 and 6.4"


def test_abl_cnn_architectures_at_the_smallest_scale(tmp_path, one_thread):
    record = reproduce_at_smallest_scale(tmp_path, [RID])[RID]
    values = record["values"]
    assert values["architectures"] == MODELS
    assert len(record["runs"]) == len(MODELS) * len(values["seeds"])
    params, acc = values["parameters"], values["test_acc"]
    assert set(params) == set(acc) == set(values["seconds_per_epoch"]) == set(MODELS)
    assert all(params["mlp_relu_tanh"] > params[m] for m in MODELS[1:])  # the dense net is the largest
    assert all(acc[m] > acc["mlp_relu_tanh"] for m in MODELS[1:])
    assert all(s > 0 for s in values["seconds_per_epoch"].values())
    assert all(len(v) == len(values["seeds"]) for v in values["test_acc_by_seed"].values())
    assert all(0.0 <= v <= 1.0 for v in values["final_val_acc"].values())
    assert all(claim["book_value"] is None for claim in record["claims"])
