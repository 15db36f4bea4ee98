"""W&B failing never loses a run: online logging without credentials, or with the service unreachable,
falls back to W&B offline in the run folder, says so once per process, and the run goes on."""

import logging

import pytest

from mde_exp import loggers, store
from mde_exp.run import execute

ARGS = ["data=iris", "model=softmax_regression", "trainer.max_epochs=2", "logger.wandb.mode=online"]


@pytest.fixture
def online_wanted(monkeypatch, tmp_path):
    """No W&B mode from the environment, no API key, a home without a netrc; no failure seen yet."""
    for name in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(loggers, "_online_failure", None)


def _runs(root, seeds, extra=()):
    return [execute(store.compose([*ARGS, *extra, f"seed={s}", f"store.root={root}"])) for s in seeds]


def _offline_with_reason(result, words: str) -> None:
    assert result.status == "finished"
    wandb = result.summary["wandb"]
    assert wandb["mode"] == "offline" and words in wandb["online_failed"]
    assert "offline-run-" in wandb["dir"] and list(result.dir.glob("wandb/offline-run-*"))


def test_online_without_credentials_goes_on_offline_and_says_so_once(
    online_wanted, tmp_path, caplog, one_thread
):
    with caplog.at_level(logging.WARNING, logger="mde_exp.loggers"):
        results = _runs(tmp_path / "runs", (0, 1))
    for result in results:
        _offline_with_reason(result, "No API key")
    warnings = [r for r in caplog.records if "W&B online logging failed" in r.getMessage()]
    assert len(warnings) == 1 and "make wandb-sync" in warnings[0].getMessage()


@pytest.mark.slow
def test_an_unreachable_wandb_service_goes_on_offline(online_wanted, tmp_path, monkeypatch, one_thread):
    monkeypatch.setenv("WANDB_API_KEY", "a" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    (result,) = _runs(tmp_path / "runs", (0,), ["logger.wandb.init_timeout=3"])
    _offline_with_reason(result, "CommError")
