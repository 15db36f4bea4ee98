"""Typed configs: every option of every config group has a structured-config schema in Hydra's
ConfigStore, each option's own YAML fits it, and a key or type the schema refuses is one clear error."""

from typing import Any, Optional

import pytest
from hydra.core.config_store import ConfigStore

from mde_exp import schemas, store
from mde_exp.errors import ConfigError
from mde_exp.paths import config_dir
from mde_exp.validate import check_config

from .conftest import run_cli

GROUPS = (*schemas.TARGET_GROUPS, *schemas.HAND_WRITTEN)
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((config_dir() / g).glob("*.yaml"))]


@pytest.mark.parametrize(
    "annotation, expected",
    [(int, int), (float, float), (str | None, Optional[str]), (list[int], list[int]),  # noqa: UP045
     (list[int] | None, Optional[list[int]]), (int | str, Any), (list[list[float]], Any), (object, Any)],  # noqa: UP045
)  # fmt: skip
def test_annotations_map_to_the_types_omegaconf_checks(annotation, expected):
    assert schemas.field_type(annotation) == expected


@pytest.mark.parametrize("group, option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_has_a_schema_in_the_config_store_that_its_yaml_fits(group, option):
    registered = schemas.register()
    name = f"schema_{group}_{option}"
    target = schemas.option_config(group, option).get("_target_")
    if group == "scheduler" and target is None:  # scheduler=none: no scheduler, nothing to type
        assert name not in registered
        return
    assert name in registered and ConfigStore.instance().load(f"{name}.yaml") is not None
    fields = registered[name].__dataclass_fields__
    own = schemas.option_config(group, option)
    assert set(own) - {"defaults"} <= set(fields), set(own) - set(fields)


def test_a_schema_follows_kwargs_to_the_parent_constructor():
    fields = schemas.schema_for_target("mde_exp.data.tabular.IrisDataModule").__dataclass_fields__
    assert {"features", "batch_size", "split_seed", "normalize"} <= set(fields)
    assert fields["batch_size"].type == Optional[int]  # noqa: UP045


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["+model.hiden_sizes=[8]"], "model.hiden_sizes: MLPClassifier has no such key; its keys: input_dim"),
        (["+data.normalise=unit"], "data.normalise: MNIST5kDataModule has no such key"),
        (["optimizer=sgd", "+optimizer.momentun=0.9"], "optimizer.momentun: SGD has no such key"),
        (
            ["data=iris", "data.batch_size=1.5"],
            "data.batch_size=1.5: must be an integer or null (IrisDataModule)",
        ),
        (
            ["data=iris", "data.flatten=maybe"],
            "data.flatten=maybe: must be true or false or null (IrisDataModule)",
        ),
        (["store.skip_finished=maybe"], "store.skip_finished=maybe: must be true or false (the run)"),
    ],
)
def test_a_key_or_type_outside_the_schema_is_one_error_naming_key_value_and_type(overrides, message):
    cfg = store.compose([*overrides, "logger=none"])
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_the_cli_refuses_a_key_the_model_does_not_take(tmp_path, monkeypatch):
    monkeypatch.setenv("MDE_EXP_RUNS", str(tmp_path / "runs"))
    result = run_cli(["+model.hiden_sizes=[8]", "logger=none"], cwd=tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("mde_exp: error: model.hiden_sizes: MLPClassifier has no such key")
    )
    assert not (tmp_path / "runs").exists()
