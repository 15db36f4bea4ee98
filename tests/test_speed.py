"""The speed options (conf/speed, mde_exp.speed): each option composes, validates and is applied to a run;
bad values are one clear error; a compiled network is compiled once per process, not once per job."""

import pytest
import torch
from hydra.utils import instantiate
from torch._dynamo.utils import counters

from mde_exp import speed, store
from mde_exp.errors import ConfigError
from mde_exp.paths import config_dir
from mde_exp.run import execute
from mde_exp.validate import check_config, model_inputs_for

OPTIONS = sorted(p.stem for p in (config_dir() / "speed").glob("*.yaml"))
TINY = ["data=mnist_5k", "data.train_size=256", "data.batch_size=64", "trainer.max_epochs=1", "logger=none"]


@pytest.fixture(autouse=True)
def _keep_matmul_precision():
    before = torch.get_float32_matmul_precision()
    yield
    torch.set_float32_matmul_precision(before)


def _model(cfg):
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    return instantiate(
        cfg.model, **model_inputs_for(cfg.model, datamodule.model_inputs()),
        optimizer=instantiate(cfg.optimizer), _convert_="all",
    )  # fmt: skip


def test_the_default_is_off():
    cfg = store.compose(TINY)
    assert cfg.speed == {
        "compile": False,
        "compile_mode": None,
        "matmul_precision": "highest",
        "precision": None,
    }


@pytest.mark.parametrize("option", OPTIONS)
def test_each_option_composes_validates_and_is_applied(option, tmp_path):
    cfg = store.compose([*TINY, f"speed={option}", f"store.root={tmp_path}"])
    check_config(cfg)
    model = _model(cfg)
    trainer_options = speed.apply(cfg.speed, model)
    assert torch.get_float32_matmul_precision() == cfg.speed.matmul_precision
    assert trainer_options == ({"precision": cfg.speed.precision} if cfg.speed.precision else {})
    assert ("forward" in vars(model.net)) == cfg.speed.compile  # compiled in place (lazily, at first call)
    trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False, **trainer_options)
    assert trainer.precision == (cfg.speed.precision or "32-true")


@pytest.mark.parametrize(
    "override, message",
    [
        ("speed.matmul_precision=low", "speed.matmul_precision=low: must be one of highest, high, medium"),
        ("speed.precision=bf17", "speed.precision=bf17: must be null or one of"),
        ("speed.compile_mode=fastest", "speed.compile_mode=fastest: must be null or one of"),
        ("speed.compile=sometimes", "speed.compile=sometimes: must be true or false"),
        ("+speed.fast=true", "speed.fast: the speed options has no such key"),
    ],
)
def test_bad_values_are_one_clear_error(override, message, tmp_path):
    cfg = store.compose([*TINY, override, f"store.root={tmp_path}"])
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(")):
        check_config(cfg)


def test_a_run_takes_the_trainer_precision_from_speed(tmp_path):
    result = execute(store.compose([*TINY, "speed.precision=bf16-mixed", f"store.root={tmp_path}"]))
    assert result.status == "finished"
    assert "precision: bf16-mixed" in (result.dir / "config.yaml").read_text()


@pytest.mark.slow
def test_a_sweep_compiles_the_network_once(tmp_path):
    """Two runs of the same architecture in one process (a sweep's jobs): the second one's new module
    instance reuses the first one's compiled code, with no new Dynamo frame compiled."""
    torch._dynamo.reset()
    counters.clear()
    compiled = []
    for lr in (0.001, 0.002):
        cfg = store.compose([*TINY, "speed.compile=true", f"optimizer.lr={lr}", f"store.root={tmp_path}"])
        assert execute(cfg).status == "finished"
        compiled.append(counters["frames"]["ok"])
    assert compiled[0] >= 1 and compiled[1] == compiled[0], compiled


def test_the_speed_options_enter_the_run_hash_only_when_turned_on():
    """Speed options off leave a run's hash (its folder) as before the options existed; any option on
    makes it another run (bf16 and TF32 change the numbers)."""
    plain = store.compose(TINY)
    without = store.compose([*TINY, "~speed"])
    assert store.config_hash(plain) == store.config_hash(without)
    for override in ("speed=gpu", "speed.precision=bf16-mixed", "speed.compile=true"):
        assert store.config_hash(store.compose([*TINY, override])) != store.config_hash(plain)
