"""Reinforcement-learning data: a gymnasium environment feeding a replay buffer (book chapter 8)."""

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
import torch
from gymnasium.wrappers import FlattenObservation
from torch.utils.data import DataLoader, IterableDataset

from mde_exp.data.base import BookDataModule

# The embedded environments (gymnasium's own; no downloads).
ENVIRONMENTS = ("CartPole-v1", "FrozenLake-v1")

Policy = Callable[[torch.Tensor], torch.Tensor]


class Transition(NamedTuple):
    """One step of play, or a batch of them (each field then gains a leading batch dimension).

    `done` is True where the step reached a terminal state (no bootstrapping from `next_observation`);
    an episode cut by its time limit is not terminal.
    """

    observation: torch.Tensor  # float32, (observation_dim,)
    action: torch.Tensor  # int64, ()
    reward: torch.Tensor  # float32, ()
    done: torch.Tensor  # bool, ()
    next_observation: torch.Tensor  # float32, (observation_dim,)


class ReplayBuffer:
    """The last `capacity` transitions, held as preallocated tensors (a ring: the oldest is overwritten).

    Sampling is uniform with replacement and draws from the buffer's own generator, seeded by `seed`.
    """

    def __init__(self, capacity: int, observation_dim: int, seed: int = 0) -> None:
        if capacity < 1:
            raise ValueError(f"buffer capacity must be positive, got {capacity}")
        self.capacity = capacity
        self.generator = torch.Generator().manual_seed(seed)
        self.observations = torch.zeros(capacity, observation_dim)
        self.actions = torch.zeros(capacity, dtype=torch.long)
        self.rewards = torch.zeros(capacity)
        self.dones = torch.zeros(capacity, dtype=torch.bool)
        self.next_observations = torch.zeros(capacity, observation_dim)
        self.position = 0  # where the next transition goes
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def _fields(self) -> tuple[torch.Tensor, ...]:
        return (self.observations, self.actions, self.rewards, self.dones, self.next_observations)

    def push(self, observation: Any, action: int, reward: float, done: bool, next_observation: Any) -> None:
        i = self.position
        self.observations[i] = torch.as_tensor(observation)
        self.actions[i] = action
        self.rewards[i] = reward
        self.dones[i] = done
        self.next_observations[i] = torch.as_tensor(next_observation)
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def __getitem__(self, index: int | torch.Tensor) -> Transition:
        return Transition(*(t[index] for t in self._fields()))

    def sample(self, n: int) -> Transition:
        """A batch of `n` transitions drawn uniformly (with replacement)."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        return self[torch.randint(self.size, (n,), generator=self.generator)]

    def state_dict(self) -> dict[str, Any]:
        return {
            "fields": [t[: self.size].clone() for t in self._fields()],
            "position": self.position,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        fields = state["fields"]
        self.size = len(fields[0])
        for mine, saved in zip(self._fields(), fields, strict=True):
            mine[: self.size] = saved
        self.position = int(state["position"])
        self.generator.set_state(state["generator"])


class ReplayDataset(IterableDataset):
    """`sample_size` transitions per pass, in batches of `batch_size` (the last one smaller if need be),
    each batch drawn uniformly from the buffer as it is when the batch is read: what the agent pushed
    since the pass began is already in play. A DataLoader serves it with `batch_size=None`."""

    def __init__(self, buffer: ReplayBuffer, sample_size: int, batch_size: int) -> None:
        if sample_size < 1 or batch_size < 1:
            raise ValueError(f"sample_size={sample_size}, batch_size={batch_size}: must be positive")
        self.buffer = buffer
        self.sample_size = sample_size
        self.batch_size = batch_size

    def __iter__(self) -> Iterator[Transition]:
        for start in range(0, self.sample_size, self.batch_size):
            yield self.buffer.sample(min(self.batch_size, self.sample_size - start))


class ReplayDataModule(BookDataModule):
    """A gymnasium environment and the replay buffer its play fills (book chapter 8, deep Q-learning).

    The DataModule owns the training environment, a separate evaluation environment and the buffer.
    `setup()` fills the buffer with `warm_start_steps` steps of a random policy; a model then calls
    `play_step(policy, epsilon)` once per training step. An epoch is `sample_size` transitions drawn
    from the buffer in batches of `batch_size`. Validation and test loaders are lists of episode seeds
    (`eval_episodes` each, fixed for the run): the model plays one greedy episode per seed with
    `evaluate_episode`. Observations are flattened to float vectors; FrozenLake's discrete state comes
    as a one-hot vector. `seed` seeds the environments' resets, the epsilon-greedy draws and the
    buffer sampling, so a run is deterministic under its seed.
    """

    task = "reinforcement"

    def __init__(
        self,
        env_id: str = "CartPole-v1",
        buffer_size: int = 10_000,
        warm_start_steps: int = 1_000,
        sample_size: int = 64_000,
        batch_size: int = 64,
        eval_episodes: int = 5,
        seed: int = 0,
        is_slippery: bool | None = None,
    ) -> None:
        super().__init__()
        if env_id not in ENVIRONMENTS:
            raise ValueError(
                f"env_id={env_id!r}: unknown environment; choose one of {', '.join(ENVIRONMENTS)}"
            )
        if is_slippery is not None and env_id != "FrozenLake-v1":
            raise ValueError(f"is_slippery={is_slippery}: only FrozenLake-v1 has that option, not {env_id}")
        for name, value in (
            ("buffer_size", buffer_size),
            ("warm_start_steps", warm_start_steps),
            ("sample_size", sample_size),
            ("batch_size", batch_size),
            ("eval_episodes", eval_episodes),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value}: must be a positive integer")
        self.env_id = env_id
        self.buffer_size = buffer_size
        self.warm_start_steps = warm_start_steps
        self.sample_size = sample_size
        self.batch_size = batch_size
        self.eval_episodes = eval_episodes
        self.seed = seed
        self.is_slippery = is_slippery
        # Independent streams from one seed: training env, action draws, buffer sampling, val, test.
        streams = np.random.SeedSequence(seed).spawn(5)
        env_seed, action_seed, sample_seed = (int(s.generate_state(1)[0]) for s in streams[:3])
        self.val_seeds = [int(s) for s in streams[3].generate_state(eval_episodes)]
        self.test_seeds = [int(s) for s in streams[4].generate_state(eval_episodes)]
        self.env = self._make_env()
        self.eval_env = self._make_env()
        self.observation_dim = int(gym.spaces.flatdim(self.env.observation_space))
        self.num_actions = int(self.env.action_space.n)
        self.buffer = ReplayBuffer(buffer_size, self.observation_dim, seed=sample_seed)
        self._rng = torch.Generator().manual_seed(action_seed)
        self._env_seed = env_seed
        self.observation = torch.zeros(self.observation_dim)
        self.episode_return = 0.0  # of the episode being played
        self.episode_returns: list[float] = []  # of the training episodes finished (after warm start)
        self.steps = 0  # training steps played (after warm start)
        self._filled = False

    def _make_env(self) -> gym.Env:
        kwargs = {} if self.is_slippery is None else {"is_slippery": self.is_slippery}
        env = gym.make(self.env_id, **kwargs)
        if not isinstance(env.action_space, gym.spaces.Discrete):
            raise ValueError(f"env_id={self.env_id}: deep Q-learning needs a discrete action space")
        return FlattenObservation(env)

    @staticmethod
    def _tensor(observation: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(observation, dtype=torch.float32)

    def _reset(self, seed: int | None = None) -> None:
        observation, _ = self.env.reset(seed=seed)
        self.observation = self._tensor(observation)
        self.episode_return = 0.0

    # -- Lightning hooks -------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        """Fill the buffer with `warm_start_steps` random steps (once), then start a fresh episode."""
        if self._filled:
            return
        self._reset(seed=self._env_seed)
        for _ in range(self.warm_start_steps):
            self.play_step(None, epsilon=1.0)
        self._reset()
        self.episode_returns.clear()
        self._filled = True

    def train_dataloader(self) -> DataLoader:
        # Batches come whole from the buffer (no per-transition collation) and no worker processes:
        # the buffer grows in this process while the loader reads it.
        dataset = ReplayDataset(self.buffer, self.sample_size, self.batch_size)
        return DataLoader(dataset, batch_size=None)

    def val_dataloader(self) -> list[int]:
        return self.val_seeds

    def test_dataloader(self) -> list[int]:
        return self.test_seeds

    def state_dict(self) -> dict[str, Any]:
        return {
            "buffer": self.buffer.state_dict(),
            "rng": self._rng.get_state(),
            "episode_returns": list(self.episode_returns),
            "steps": self.steps,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the buffer and counters of a checkpoint; play resumes with a fresh episode."""
        self.setup()
        self.buffer.load_state_dict(state_dict["buffer"])
        self._rng.set_state(state_dict["rng"])
        self.episode_returns = list(state_dict["episode_returns"])
        self.steps = int(state_dict["steps"])
        self._reset(seed=int(torch.randint(2**31, (1,), generator=self._rng)))

    # -- play --------------------------------------------------------------------------------------
    def _action(self, policy: Policy | None, observation: torch.Tensor, epsilon: float) -> int:
        if policy is None or float(torch.rand((), generator=self._rng)) < epsilon:
            return int(torch.randint(self.num_actions, (), generator=self._rng))
        return int(policy(observation).argmax())

    def play_step(self, policy: Policy | None, epsilon: float = 0.0) -> tuple[float, bool]:
        """Take one epsilon-greedy step in the training environment and push it into the buffer.

        `policy` maps an observation (a float vector) to Q-values; None plays at random. At an
        episode's end its return is appended to `episode_returns` and a new episode starts.
        Returns the step's reward and whether the episode ended.
        """
        action = self._action(policy, self.observation, epsilon)
        next_observation, reward, terminated, truncated, _ = self.env.step(action)
        next_observation = self._tensor(next_observation)
        self.buffer.push(self.observation, action, float(reward), bool(terminated), next_observation)
        self.episode_return += float(reward)
        self.observation = next_observation
        done = bool(terminated or truncated)
        if self._filled:
            self.steps += 1
        if done:
            if self._filled:
                self.episode_returns.append(self.episode_return)
            self._reset()
        return float(reward), done

    def evaluate_episode(self, policy: Policy, seed: int) -> float:
        """The return of one greedy episode of `policy` in the evaluation environment, reset with `seed`."""
        observation, _ = self.eval_env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            action = int(policy(self._tensor(observation)).argmax())
            observation, reward, terminated, truncated, _ = self.eval_env.step(action)
            total += float(reward)
            done = terminated or truncated
        return total

    def model_inputs(self) -> dict[str, Any]:
        return {"observation_dim": self.observation_dim, "num_actions": self.num_actions}
