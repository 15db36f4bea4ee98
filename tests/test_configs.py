"""Every option of every config group composes and instantiates into the object it names."""

import lightning as L
import pytest
import torch
from hydra.utils import instantiate

from mde_exp import store, sweep
from mde_exp.data.base import TASKS, BookDataModule
from mde_exp.loggers import StoreCSVLogger
from mde_exp.paths import config_dir
from mde_exp.preflight import group_options
from mde_exp.run import _build_loggers, _build_model
from mde_exp.validate import check_config

GROUPS = sorted(p.name for p in config_dir().iterdir() if p.is_dir())


def test_every_group_of_the_issue_exists():
    expected = {
        "data",
        "model",
        "optimizer",
        "scheduler",
        "init",
        "norm",
        "trainer",
        "logger",
        "callbacks",
        "profile",
        "experiment",
    }
    assert "base" not in group_options("data"), "the shared in-memory options are not a data set"
    assert expected <= set(GROUPS)


@pytest.fixture(scope="module")
def digits():
    dm = instantiate(store.compose(["data=digits"]).data)
    dm.setup()
    return dm


@pytest.mark.parametrize("option", group_options("data"))
def test_data_option(option):
    cfg = store.compose([f"data={option}"])
    dm = instantiate(cfg.data)
    assert isinstance(dm, BookDataModule)
    assert dm.task in TASKS
    if "batch_size" in cfg.data:
        assert dm.batch_size == cfg.data.batch_size


def test_data_glob_sweeps_every_data_set_and_each_instantiates():
    jobs = sweep.expand(["data=glob(*)"])
    assert jobs == [[f"data={option}"] for option in group_options("data")]
    for job in jobs:
        assert isinstance(instantiate(store.compose(job).data), BookDataModule)
    some = sweep.expand(["data=glob(mnist*,exclude=mnist)"])
    assert some == [["data=mnist1d"], ["data=mnist_5k"]]


# The data set each model option is built for in this test, and the output it gives on 5 examples.
MODEL_DATA = {
    "linear_regression": ("boston", (5, 1)),
    "logistic_regression": ("wdbc", (5, 2)),
    "autoencoder": ("digits", (5, 64)),
    "deep_autoencoder": ("digits", (5, 64)),
    "autoencoder_1d": ("tanh_curve", (5, 2)),
    "deep_autoencoder_1d": ("tanh_curve", (5, 2)),
    "autoencoder_2d": ("digits", (5, 64)),
    "deep_autoencoder_2d": ("digits", (5, 64)),
    "rnn_lm": ("copy_task", (5, 17, 11)),
    "transformer_lm": ("copy_task", (5, 17, 11)),
    "transformer_seq2seq": ("reverse_task", (5, 17, 11)),
    "seq2seq": ("reverse_task", (5, 17, 11)),
    "seq2seq_attention": ("reverse_task", (5, 17, 11)),
    "gcn": ("karate", (34, 4)),
    "dqn": ("cartpole", (5, 2)),
    "objective": ("weighted_quadratic", ()),
    "convnet": ("mnist_5k", (5, 10)),  # the course's net needs 28 x 28 digits (8 x 8 ones: padding=same)
    "lenet5": ("mnist_5k", (5, 10)),  # the objective's value at theta on a batch of points
    "siamese": ("digits", (5, 16)),  # embeddings, not logits
    "siamese_triplet": ("digits", (5, 16)),
    "diffusion": ("gaussian_mixture", (5, 2)),  # the predicted noise at t = T
    "vae": ("digits", (5, 64)),  # the decoder's mean at z = mu(x), flattened
    "vae_conv": ("digits", (5, 64)),
    "gan": ("gaussian_mixture", (5,)),  # the discriminator's score of each example
    "wgan": ("digits", (5,)),
}


@pytest.mark.parametrize("option", group_options("model"))
def test_model_option(option):
    data, shape = MODEL_DATA.get(option, ("digits", (5, 10)))
    cfg = store.compose([f"model={option}", f"data={data}"])
    check_config(cfg)
    dm = instantiate(cfg.data)
    dm.setup()
    model = _build_model(cfg, dm)
    assert isinstance(model, L.LightningModule)
    if dm.task == "node_classification":
        assert model(dm.data.x, dm.data.edge_index).shape == shape
    elif dm.task == "reinforcement":
        assert model(torch.zeros(5, dm.model_inputs()["observation_dim"])).shape == shape
    elif dm.task == "optimisation":
        assert model(*dm.epoch_batches(0)[0]).shape == shape
    else:
        assert model(dm.splits["train"][0][:5]).shape == shape


@pytest.mark.parametrize("option", group_options("optimizer"))
def test_optimizer_option(option):
    cfg = store.compose([f"optimizer={option}"])
    optimizer = instantiate(cfg.optimizer)([torch.nn.Parameter(torch.zeros(3))])
    assert isinstance(optimizer, torch.optim.Optimizer)
    assert optimizer.param_groups[0]["lr"] == cfg.optimizer.lr


@pytest.mark.parametrize("option", group_options("scheduler"))
def test_scheduler_option(option):
    cfg = store.compose([f"scheduler={option}"])
    if option == "none":
        assert not cfg.scheduler.get("_target_")
        return
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(3))], lr=1.0)
    scheduler = instantiate(cfg.scheduler)(optimizer)
    optimizer.step()
    scheduler.step()
    assert isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler)


@pytest.mark.parametrize("option", group_options("init"))
def test_init_option(option, digits):
    cfg = store.compose([f"init={option}"])
    model = _build_model(cfg, digits)
    first = model.net[1].weight
    if option == "zeros":
        assert torch.count_nonzero(first) == 0
    elif option == "constant":
        assert torch.all(first == cfg.init.value) and torch.all(model.net[1].bias == cfg.init.value)
    else:
        assert first.std() > 0


@pytest.mark.parametrize("option", group_options("norm"))
def test_norm_option(option, digits):
    model = _build_model(store.compose([f"norm={option}"]), digits)
    kinds = {type(m).__name__ for m in model.modules()}
    expected = {"none": None, "batch": "BatchNorm1d", "layer": "LayerNorm"}[option]
    assert expected is None or expected in kinds
    if option == "none":
        assert not kinds & {"BatchNorm1d", "LayerNorm"}


@pytest.mark.parametrize("option", group_options("trainer"))
def test_trainer_option(option):
    cfg = store.compose([f"trainer={option}"])
    if cfg.trainer.accelerator == "gpu" and not torch.cuda.is_available():
        assert cfg.trainer.devices >= 1
        pytest.skip("no GPU here: composed only (test_distributed builds trainer=ddp on the CPU)")
    trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    assert isinstance(trainer, L.Trainer)
    assert trainer.max_epochs == cfg.profile.max_epochs


@pytest.mark.parametrize("option", group_options("logger"))
def test_logger_option(option, tmp_path):
    cfg = store.compose([f"logger={option}"])
    loggers = _build_loggers(cfg, tmp_path, None)
    assert isinstance(loggers[0], StoreCSVLogger)
    names = sorted(type(lg).__name__ for lg in loggers[1:])
    assert names == {"none": [], "wandb": ["WandbLogger"], "tensorboard": ["TensorBoardLogger"]}[option]


def test_wandb_logger_is_grouped_and_tagged(tmp_path):
    cfg = store.compose(["+experiment=dropout_sweep"])
    (wandb,) = _build_loggers(cfg, tmp_path / "abc-seed0", None)[1:]
    init = wandb._wandb_init
    assert init["group"] == "dropout_sweep" and init["job_type"] == "train"
    assert "abl-dropout" in init["tags"] and "section-5.7" in init["tags"]
    assert init["config"]["model"]["hidden_sizes"] == [256, 256, 256]
    assert init["mode"] == "offline"


@pytest.mark.parametrize("option", group_options("callbacks"))
def test_callbacks_option(option):
    cfg = store.compose([f"callbacks={option}"])
    callbacks = [instantiate(spec) for spec in (cfg.callbacks or {}).values()]
    assert all(isinstance(c, L.Callback) for c in callbacks)
    assert len(callbacks) == (0 if option == "none" else 1)


@pytest.mark.parametrize("option", group_options("profile"))
def test_profile_option(option):
    cfg = store.compose([f"profile={option}"])
    assert cfg.profile.name == option
    assert cfg.trainer.max_epochs == cfg.profile.max_epochs >= 1


@pytest.mark.parametrize("option", group_options("experiment"))
def test_experiment_option_expands_into_valid_jobs(option):
    base = store.compose([f"+experiment={option}"], return_hydra_config=True)
    assert str(base.hydra.mode) == "RunMode.MULTIRUN"
    jobs = sweep.expand([f"+experiment={option}"], sweep.sweep_params(base.hydra))
    assert len(jobs) >= 2
    seen = set()
    for job in jobs:
        cfg = store.compose(job)
        check_config(cfg)
        assert cfg.experiment == option
        seen.add(store.config_hash(cfg))
    assert len(seen) == len(jobs), "every job of a sweep is a different run"
