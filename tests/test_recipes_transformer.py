"""fig-7.14 and transformer-attention at the smallest scale: the experiment, claims, values and figures."""

import importlib.util

from mde_exp import sweep
from mde_exp.paths import experiments_dir
from mde_exp.recipes import load_recipes
from mde_exp.store import compose
from mde_exp.validate import check_config

from .conftest import reproduce_at_smallest_scale

IDS = ["fig-7.14", "transformer-attention"]


def test_experiment_trains_both_transformers_on_the_reverse_task():
    cfg = compose(["+experiment=transformer_reverse"], return_hydra_config=True)
    jobs = sweep.expand([], sweep.sweep_params(cfg.hydra))
    assert {tuple(j) for j in jobs} == {("model=transformer_seq2seq",), ("model=transformer_lm",)}
    for model, target in (
        ("transformer_seq2seq", "TransformerSeq2Seq"),
        ("transformer_lm", "TransformerLanguageModel"),
    ):
        cfg = compose(["+experiment=transformer_reverse", f"model={model}"])
        assert cfg.model._target_.endswith(target) and cfg.model.d_model == 64 and cfg.model.d_ff == 128
        assert (
            cfg.data.task == "reverse"
            and cfg.figure_id == "transformer-attention"
            and cfg.book_section == "7.5"
        )
    recipes = load_recipes()
    assert [recipes[rid].chapter for rid in IDS] == [7, 7]
    assert recipes["fig-7.14"].book_ref.startswith("Figure 7.14")


def test_every_profile_of_transformer_attention_composes():
    spec = importlib.util.spec_from_file_location(
        "transformer_attention", experiments_dir() / "transformer_attention.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for profile, settings in module.SETTINGS.items():
        for model in ("transformer_seq2seq", "transformer_lm"):
            overrides = [f"profile={profile}", "+experiment=transformer_reverse", f"model={model}"]
            check_config(compose([*overrides, *settings["overrides"], "logger=none"]))


def test_transformer_recipes_at_the_smallest_scale(tmp_path, one_thread):
    records = reproduce_at_smallest_scale(tmp_path, IDS)
    values = records["fig-7.14"]["values"]
    assert (values["M"], values["p"], values["T"]) == (10_000, 768, 4000)
    assert values["rotation_error"] < 1e-9 and values["dot_product_offset_error"] < 1e-9
    assert values["max_diff_dims_0_9"] > 0.5 > 0.1 > values["max_diff_beyond_dim_200"]
    assert records["fig-7.14"]["runs"] == []

    record = records["transformer-attention"]
    values = record["values"]
    assert values["lm_max_weight_above_diagonal"] == 0.0
    cross = values["cross_attention_aligned_mass"]
    assert set(cross) == {"decoder.blocks.0.cross_attention", "decoder.blocks.1.cross_attention"}
    assert all(len(per_head) == 5 for per_head in cross.values())  # 4 heads and their mean
    best = max(per_head[-1] for per_head in cross.values())
    assert best > 2 * values["chance_aligned_mass"]
    assert len(record["runs"]) == 2
