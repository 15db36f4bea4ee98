"""The command line in a subprocess: a run, a sweep, --help, and one clear line for each bad input."""

import pytest
from omegaconf import OmegaConf

from mde_exp import store

from .conftest import run_cli


def test_help_lists_groups_and_their_options(tmp_path):
    result = run_cli(["--help"], cwd=tmp_path)
    assert result.returncode == 0
    for text in (
        "model: ",
        "linear_regression",
        "data: ",
        "mnist1d",
        "init:",
        "kaiming_normal",
        "experiment:",
        "dropout_sweep",
        "optimizer:",
        "nesterov",
        "dropout    rate in [0, 1)",
    ):
        assert text in result.stdout, text


def test_a_run_from_another_directory_writes_the_store(tmp_path):
    result = run_cli(["data=digits", "trainer.max_epochs=1", "logger=none"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (directory,) = (tmp_path / "runs" / "default").iterdir()
    assert {"config.yaml", "metrics.csv", "summary.json", "checkpoints"} <= {
        p.name for p in directory.iterdir()
    }
    assert store.read_summary(directory)["status"] == "finished"
    again = run_cli(["data=digits", "trainer.max_epochs=1", "logger=none"], cwd=tmp_path)
    assert "skipped" in again.stderr + again.stdout


def test_dropout_sweep_runs_every_rate_with_wandb_offline_runs(tmp_path):
    result = run_cli(
        [
            "+experiment=dropout_sweep",
            "profile=tiny",
            "trainer.max_epochs=1",
            "data=digits",
            "model.hidden_sizes=[32,32,32]",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    directories = sorted((tmp_path / "runs" / "dropout_sweep").iterdir())
    assert len(directories) == 4
    rates = set()
    for directory in directories:
        summary = store.read_summary(directory)
        assert summary["status"] == "finished"
        assert summary["wandb"]["mode"] == "offline" and summary["wandb"]["group"] == "dropout_sweep"
        assert list((directory / "wandb").glob("offline-run-*/*.wandb")), "an offline W&B run per job"
        rates.add(str(OmegaConf.to_container(OmegaConf.load(directory / "config.yaml"))["dropout"]))
    assert rates == {"0.0", "0.2", "0.5", "[0.4, 0.3, 0.2]"}


BAD = [
    (["model=foo"], "unknown model 'foo'; choose one of: autoencoder,"),
    (["trainer.max_epoch=3"], "did you mean 'trainer.max_epochs'"),
    (["dropout=1.5"], "dropout=1.5: each dropout rate must be a number in [0, 1)"),
    (["dropout=-0.1"], "in [0, 1)"),
    (["optimizer.lr=-0.01"], "optimizer.lr=-0.01: the learning rate must be a positive number"),
    (["data=mnist"], "MNIST files missing in"),
    (["+experiment=nope"], "unknown experiment 'nope'"),
    (["init=he,zero", "-m"], "unknown init 'zero'"),
    (["dropout=0,2", "-m"], "dropout=2"),
    (["model=softmax_regression", "norm=batch"], "has no normalisation layers"),
    (["data=karate", "model=gcn", "dropout=0.5"], "(its own rate is model.feature_dropout)"),
    (["model.hidden_sizes=[64,0]"], "positive integers"),
    (["model.activation=swish"], "model.activation=swish: choose one of"),
    (["dropout=0,0.2"], "add -m"),
    (["trainer.max_epochs=0"], "trainer.max_epochs=0"),
    (["data=digits", "data.val_size=5000"], "val_size"),
    (
        ["data=boston"],
        "model MLPClassifier needs num_classes, which BostonHousingDataModule (regression data)",
    ),
    (["data=digits", "data.normalize=zscore"], "normalize='zscore': choose one of none, unit, standardize"),
    (["data=wdbc", "data.features=[area_avg]"], "unknown column(s) ['area_avg']"),
    (["data=digits", "data.classes=[3]"], "classes=[3]: give at least two distinct labels"),
    (["data=digits", "data.split=random"], "split='random': choose one of stratified, sequential"),
    (
        ["data=glob(*)", "-m"],
        "(language_model data) does not give; models for it: rnn_lm, seq2seq, seq2seq_attention, "
        "transformer_lm, transformer_seq2seq (in job data=add_task)",
    ),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_gives_one_clear_line_and_no_run(tmp_path, args, message):
    result = run_cli(args, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mde_exp: error: ") and message in lines[0], lines[0]
    assert not (tmp_path / "runs").exists(), "nothing is written before the input is checked"
