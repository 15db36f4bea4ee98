"""The reinforcement-learning data (gymnasium environment, replay buffer) and the DQN that trains on it."""

from functools import partial

import lightning as L
import pandas as pd
import pytest
import torch
from hydra.utils import instantiate

from mde_exp import store
from mde_exp.data.rl import ReplayBuffer, ReplayDataModule, Transition
from mde_exp.errors import ConfigError
from mde_exp.models.dqn import DQN
from mde_exp.run import execute
from mde_exp.validate import check_config


def _fields_equal(a: Transition, b: Transition) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_buffer_push_and_sample_shapes_and_dtypes():
    buffer = ReplayBuffer(capacity=10, observation_dim=3, seed=0)
    for i in range(4):
        buffer.push(torch.full((3,), float(i)), i % 2, 1.0, i == 3, torch.full((3,), i + 1.0))
    assert len(buffer) == 4
    batch = buffer.sample(8)
    assert isinstance(batch, Transition)
    assert batch.observation.shape == batch.next_observation.shape == (8, 3)
    assert batch.action.shape == batch.reward.shape == batch.done.shape == (8,)
    assert batch.observation.dtype == batch.next_observation.dtype == batch.reward.dtype == torch.float32
    assert batch.action.dtype == torch.long and batch.done.dtype == torch.bool
    assert torch.equal(batch.next_observation, batch.observation + 1)  # rows stay together
    assert torch.equal(batch.done, batch.observation[:, 0] == 3)


def test_buffer_keeps_the_last_capacity_transitions():
    buffer = ReplayBuffer(capacity=5, observation_dim=1)
    for i in range(12):
        buffer.push([float(i)], 0, float(i), False, [float(i)])
    assert len(buffer) == 5
    assert sorted(buffer.rewards.tolist()) == [7.0, 8.0, 9.0, 10.0, 11.0]
    assert set(buffer.sample(100).reward.tolist()) <= {7.0, 8.0, 9.0, 10.0, 11.0}
    with pytest.raises(ValueError, match="empty"):
        ReplayBuffer(3, 1).sample(1)


def test_warm_start_fills_the_buffer_and_model_inputs():
    dm = ReplayDataModule(buffer_size=500, warm_start_steps=300, seed=0)
    assert dm.task == "reinforcement"
    assert dm.model_inputs() == {"observation_dim": 4, "num_actions": 2}
    assert len(dm.buffer) == 0
    dm.setup("fit")
    assert len(dm.buffer) == 300 and dm.buffer.dones.any()  # random play ends CartPole episodes
    dm.setup("test")  # Lightning calls setup per stage: the buffer is filled once
    assert len(dm.buffer) == 300 and dm.episode_returns == [] and dm.steps == 0
    full = ReplayDataModule(buffer_size=100, warm_start_steps=300)
    full.setup()
    assert len(full.buffer) == 100


def test_play_step_pushes_and_keeps_the_episode_return():
    dm = ReplayDataModule(warm_start_steps=10, seed=1)
    dm.setup()
    always_left = lambda obs: torch.tensor([1.0, 0.0])  # noqa: E731
    rewards, done = 0.0, False
    while not done:
        reward, done = dm.play_step(always_left, epsilon=0.0)
        rewards += reward
    assert len(dm.buffer) == 10 + dm.steps and dm.buffer.actions[10 : 10 + dm.steps].eq(0).all()
    assert dm.episode_returns == [rewards] and dm.episode_return == 0.0
    assert rewards < 20  # pushing left all the time drops the pole quickly


def test_loader_yields_batches_of_the_right_shapes():
    dm = ReplayDataModule(warm_start_steps=200, sample_size=100, batch_size=32)
    dm.setup()
    batches = list(dm.train_dataloader())
    assert [len(b.action) for b in batches] == [32, 32, 32, 4]
    first = batches[0]
    assert isinstance(first, Transition)
    assert first.observation.shape == (32, 4) and first.observation.dtype == torch.float32
    assert first.action.dtype == torch.long and first.done.dtype == torch.bool


def _trajectory(seed: int) -> tuple[torch.Tensor, Transition, list[float]]:
    dm = ReplayDataModule(warm_start_steps=200, sample_size=64, batch_size=64, eval_episodes=2, seed=seed)
    dm.setup()
    for _ in range(100):
        dm.play_step(lambda obs: obs[:2], epsilon=0.3)
    (batch,) = list(dm.train_dataloader())
    returns = [dm.evaluate_episode(lambda obs: obs[2:], s) for s in dm.val_dataloader()]
    return dm.buffer.observations[: len(dm.buffer)].clone(), batch, returns


def test_same_seed_same_play_and_samples_other_seed_differs():
    obs_a, batch_a, returns_a = _trajectory(0)
    obs_b, batch_b, returns_b = _trajectory(0)
    obs_c, batch_c, _ = _trajectory(1)
    assert torch.equal(obs_a, obs_b) and _fields_equal(batch_a, batch_b) and returns_a == returns_b
    assert not torch.equal(obs_a, obs_c) and not _fields_equal(batch_a, batch_c)


def test_state_dict_round_trip_restores_the_buffer():
    dm = ReplayDataModule(warm_start_steps=150, seed=3)
    dm.setup()
    state = dm.state_dict()
    other = ReplayDataModule(warm_start_steps=50, seed=4)
    other.load_state_dict(state)
    assert len(other.buffer) == 150 and other.buffer.position == dm.buffer.position
    assert _fields_equal(other.buffer[torch.arange(150)], dm.buffer[torch.arange(150)])
    assert _fields_equal(other.buffer.sample(10), dm.buffer.sample(10))


def test_training_resumes_from_a_checkpoint_with_its_buffer(tmp_path, one_thread):
    def fit(epochs: int, ckpt_path=None) -> tuple[ReplayDataModule, L.Trainer]:
        dm = ReplayDataModule(warm_start_steps=300, sample_size=640, batch_size=64)
        model = DQN(4, 2, optimizer=partial(torch.optim.Adam, lr=1e-3))
        quiet = {"enable_progress_bar": False, "enable_model_summary": False, "num_sanity_val_steps": 0}
        trainer = L.Trainer(
            max_epochs=epochs, logger=False, enable_checkpointing=False, accelerator="cpu", **quiet
        )
        trainer.fit(model, datamodule=dm, ckpt_path=ckpt_path)
        return dm, trainer

    first, trainer = fit(1)
    trainer.save_checkpoint(tmp_path / "last.ckpt")
    assert len(first.buffer) == 310 and first.steps == 10
    resumed, _ = fit(2, ckpt_path=tmp_path / "last.ckpt")
    assert len(resumed.buffer) == 320 and resumed.steps == 20  # 300 warm-start steps, not 600
    assert resumed.episode_returns[: len(first.episode_returns)] == first.episode_returns


def test_frozenlake_observations_are_one_hot():
    dm = ReplayDataModule(env_id="FrozenLake-v1", is_slippery=False, warm_start_steps=50)
    assert dm.model_inputs() == {"observation_dim": 16, "num_actions": 4}
    dm.setup()
    observations = dm.buffer.observations[:50]
    assert observations.dtype == torch.float32
    assert torch.equal(observations.sum(dim=1), torch.ones(50))
    assert set(observations.unique().tolist()) == {0.0, 1.0}
    assert observations[0, 0] == 1.0  # every episode starts in the top-left corner


def test_unknown_environment_or_option_is_a_clear_error():
    with pytest.raises(ValueError, match="env_id='Pong-v5'.*CartPole-v1, FrozenLake-v1"):
        ReplayDataModule(env_id="Pong-v5")
    with pytest.raises(ValueError, match="is_slippery.*only FrozenLake"):
        ReplayDataModule(env_id="CartPole-v1", is_slippery=True)
    with pytest.raises(ValueError, match="warm_start_steps=0"):
        ReplayDataModule(warm_start_steps=0)
    with pytest.raises(ConfigError, match="env_id='Pong-v5'"):
        check_config(store.compose(["data=cartpole", "model=dqn", "data.env_id=Pong-v5"]))
    with pytest.raises(ConfigError, match="observation_dim, num_actions"):
        check_config(store.compose(["data=digits", "model=dqn"]))
    with pytest.raises(ConfigError, match="input_dim"):
        check_config(store.compose(["data=cartpole", "model=mlp"]))


@pytest.mark.parametrize("data", ["cartpole", "frozenlake"])
def test_configs_compose_and_build(data):
    cfg = store.compose([f"data={data}", "model=dqn"])
    assert "norm" not in cfg.model and "dropout" not in cfg.model
    check_config(cfg)
    dm = instantiate(cfg.data)
    assert isinstance(dm, ReplayDataModule) and dm.batch_size == cfg.data.batch_size
    model = instantiate(cfg.model, **dm.model_inputs(), optimizer=instantiate(cfg.optimizer))
    assert isinstance(model, DQN)
    q = model(torch.zeros(3, dm.observation_dim))
    assert q.shape == (3, dm.num_actions)


def test_epsilon_decays_linearly_and_target_network_is_a_frozen_copy():
    model = DQN(4, 2, eps_start=1.0, eps_end=0.1, eps_last_frame=100)
    assert model.epsilon(0) == 1.0 and model.epsilon(50) == pytest.approx(0.55)
    assert model.epsilon(100) == model.epsilon(10_000) == pytest.approx(0.1)
    assert not any(p.requires_grad for p in model.target_net.parameters())
    for mine, target in zip(model.net.parameters(), model.target_net.parameters(), strict=True):
        assert torch.equal(mine, target)
    done = torch.tensor([True, False, False, False, True])
    batch = Transition(
        torch.randn(5, 4), torch.tensor([0, 1, 0, 1, 0]), torch.ones(5), done, torch.randn(5, 4)
    )
    model.td_loss(batch).backward()
    assert all(p.grad is not None for p in model.net.parameters())
    with pytest.raises(ValueError, match="loss='l1'"):
        DQN(4, 2, loss="l1")


def test_a_short_run_end_to_end(tmp_path, one_thread):
    run = ["data=cartpole", "model=dqn", "trainer.max_epochs=2", "logger=none", f"store.root={tmp_path}"]
    cfg = store.compose([*run, "data.sample_size=6400", "trainer.accelerator=cpu"])  # 100 steps per epoch
    result = execute(cfg)
    assert result.status == "finished"
    assert {"train/loss", "train/episode_return", "val/return", "test/return"} <= set(result.metrics)
    summary = store.read_summary(result.dir)
    assert summary["epochs"] == 2 and summary["global_step"] == 200
    epochs = store.read_epoch_metrics(result.dir)
    assert isinstance(epochs, pd.DataFrame) and epochs["val/return"].notna().sum() == 2


@pytest.mark.slow
def test_dqn_learns_cartpole(tmp_path, one_thread):
    run = ["data=cartpole", "model=dqn", "trainer.max_epochs=10", "logger=none", f"store.root={tmp_path}"]
    cfg = store.compose([*run, "trainer.accelerator=cpu", "data.eval_episodes=10"])  # 10,000 steps
    result = execute(cfg)
    assert result.status == "finished"
    # A random policy keeps the pole up for about 20 steps; 10,000 steps of deep Q-learning do far better.
    assert result.metrics["test/return"] > 100
    assert result.metrics["train/episode_return"] > 50
