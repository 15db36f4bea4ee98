"""The GPU options of the image models: channels-last memory (`model.memory_format=channels_last`) and bf16
autocast (Lightning's `++trainer.precision=bf16-mixed`), chosen from the config, on the CPU and on CUDA."""

import pytest
import torch
from hydra.utils import instantiate

from mde_exp import store
from mde_exp.errors import ConfigError
from mde_exp.preflight import check_command_line
from mde_exp.run import execute
from mde_exp.validate import model_inputs_for

FAST = ["++trainer.precision=bf16-mixed", "model.memory_format=channels_last"]
SMALL = [
    "model=convnet",
    "data=mnist_5k",
    "data.train_size=512",
    "data.batch_size=64",
    "optimizer.lr=0.005",
    "trainer.max_epochs=1",
]


def _compose(tmp_path, *overrides: str):
    return store.compose([*SMALL, "logger=none", f"store.root={tmp_path}", *overrides])


def _fit_recording(cfg) -> tuple[torch.nn.Module, dict[str, set]]:
    """Fits cfg's model for cfg's epochs with cfg's trainer, recording the memory formats and dtypes of the
    first convolution's outputs (8 channels) during training steps."""
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    model = instantiate(
        cfg.model,
        **model_inputs_for(cfg.model, datamodule.model_inputs()),
        optimizer=instantiate(cfg.optimizer),
        _convert_="all",
    )
    seen: dict[str, set] = {"dtype": set(), "channels_last": set()}

    def record(module, inputs, output):
        if module.training:
            seen["dtype"].add(output.dtype)
            seen["channels_last"].add(output.is_contiguous(memory_format=torch.channels_last))

    model.first_layer.register_forward_hook(record)
    trainer = instantiate(
        cfg.trainer,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(model, datamodule=datamodule)
    return model, seen


def test_the_config_chooses_channels_last_and_bf16(tmp_path):
    cfg = _compose(tmp_path, *FAST)
    assert cfg.trainer.precision == "bf16-mixed" and cfg.model.memory_format == "channels_last"
    assert check_command_line([*SMALL, *FAST, "logger=none"]) == 1
    with pytest.raises(ConfigError, match=r"add it with '\+\+trainer.precision=bf16-mixed'"):
        check_command_line([*SMALL, "trainer.precision=bf16-mixed"])
    with pytest.raises(ConfigError, match="unknown memory_format 'nhwc'"):
        check_command_line([*SMALL, "model.memory_format=nhwc"])


def test_bf16_autocast_and_channels_last_train_a_convnet_on_the_cpu(tmp_path, one_thread):
    model, seen = _fit_recording(_compose(tmp_path, *FAST, "trainer.accelerator=cpu"))
    assert seen == {"dtype": {torch.bfloat16}, "channels_last": {True}}
    assert model.first_layer.weight.dtype == torch.float32  # mixed: the weights stay float32
    assert model.first_layer.weight.is_contiguous(memory_format=torch.channels_last)
    _, plain = _fit_recording(_compose(tmp_path, "trainer.accelerator=cpu", "model.memory_format=contiguous"))
    assert plain == {"dtype": {torch.float32}, "channels_last": {False}}

    result = execute(_compose(tmp_path, *FAST, "trainer.accelerator=cpu"))  # through the store, as the CLI
    reference = execute(  # float32, contiguous, same seed
        _compose(tmp_path, "trainer.accelerator=cpu", "model.memory_format=contiguous")
    )
    assert result.status == reference.status == "finished" and result.dir != reference.dir
    assert result.metrics["test/acc"] > 0.2  # 8 steps; ten classes: chance is 0.1
    for key in ("train/loss", "test/loss"):  # bf16 rounds (8 bits of mantissa) but trains the same net
        assert result.metrics[key] == pytest.approx(reference.metrics[key], rel=0.01), key
    stored = store.load_model(result.dir)
    assert stored.memory_format == torch.channels_last
    assert "precision: bf16-mixed" in (result.dir / "config.yaml").read_text()


def test_channels_last_trains_to_the_same_network(tmp_path, one_thread):
    """Same seed, float32: one epoch channels-last and one contiguous give the same outputs (up to the
    rounding of different convolution kernels)."""
    runs = {
        fmt: execute(_compose(tmp_path, f"model.memory_format={fmt}"))
        for fmt in ("contiguous", "channels_last")
    }
    assert runs["contiguous"].dir != runs["channels_last"].dir
    models = {fmt: store.load_model(r.dir) for fmt, r in runs.items()}
    x, _ = store.load_datamodule(runs["contiguous"].dir).splits["test"]
    with torch.no_grad():
        outputs = {fmt: m(x[:200]) for fmt, m in models.items()}
    torch.testing.assert_close(outputs["channels_last"], outputs["contiguous"], rtol=1e-3, atol=1e-3)
    acc = {fmt: r.metrics["test/acc"] for fmt, r in runs.items()}
    assert acc["channels_last"] == pytest.approx(acc["contiguous"], abs=2e-3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_channels_last_bf16_trains_a_convnet_on_cuda(tmp_path):
    cfg = _compose(tmp_path, *FAST, "trainer=gpu", "data.train_size=2000", "trainer.max_epochs=2")
    model, seen = _fit_recording(cfg)
    assert seen == {"dtype": {torch.bfloat16}, "channels_last": {True}}
    assert model.first_layer.weight.device.type == "cuda"
    result = execute(cfg)
    assert result.status == "finished" and result.metrics["test/acc"] > 0.5
    assert torch.isfinite(torch.tensor(result.metrics["train/loss"]))
