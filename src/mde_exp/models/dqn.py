"""DQN: deep Q-learning with a replay buffer and a target network (book chapter 8, reinforcement learning)."""

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mde_exp.data.rl import ReplayDataModule, Transition
from mde_exp.models.base import BookModule, OptimizerFactory, SchedulerFactory
from mde_exp.nn.activations import activation_gain, make_activation
from mde_exp.nn.init import apply_init
from mde_exp.nn.layers import hidden_widths

LOSSES = {"huber": F.smooth_l1_loss, "mse": F.mse_loss}


class DQN(BookModule):
    """A deep Q-network (book chapter 8, reinforcement learning, deep Q-learning).

    An MLP Q-network maps an observation to one value per action. Each training step lets the agent
    play one epsilon-greedy step into the DataModule's replay buffer (epsilon falls linearly from
    `eps_start` to `eps_end` over `eps_last_frame` steps), then takes a gradient step on the TD loss
    (Huber or squared error) between Q(s, a) and r + gamma max_a' Q_target(s', a') on a batch drawn
    from the buffer. The target network is a copy of the Q-network, refreshed every `sync_rate` steps.

    Logs train/loss (per step and per epoch), train/episode_return (mean return of the training
    episodes finished in the epoch), train/epsilon, and the mean greedy-episode return val/return and
    test/return.
    """

    def __init__(
        self,
        observation_dim: int,
        num_actions: int,
        hidden_sizes: Sequence[int] = (128, 128),
        activation: str = "relu",
        init: Mapping[str, Any] | None = None,
        gamma: float = 0.99,
        loss: str = "huber",
        eps_start: float = 1.0,
        eps_end: float = 0.05,
        eps_last_frame: int = 2_000,
        sync_rate: int = 100,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(optimizer, scheduler)
        hidden_sizes = hidden_widths(hidden_sizes)
        if loss not in LOSSES:
            raise ValueError(f"loss={loss!r}: choose one of {', '.join(LOSSES)}")
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma={gamma}: the discount must lie in [0, 1]")
        if not (0.0 <= eps_end <= 1.0 and 0.0 <= eps_start <= 1.0):
            raise ValueError(f"eps_start={eps_start}, eps_end={eps_end}: epsilons must lie in [0, 1]")
        if eps_last_frame < 1 or sync_rate < 1:
            raise ValueError(f"eps_last_frame={eps_last_frame}, sync_rate={sync_rate}: must be positive")
        layers: list[nn.Module] = []
        width = observation_dim
        for size in hidden_sizes:
            layers += [nn.Linear(width, size), make_activation(activation)]
            width = size
        layers.append(nn.Linear(width, num_actions))
        self.net = nn.Sequential(*layers)
        apply_init(self.net, init, gain=activation_gain(activation))
        self.target_net = copy.deepcopy(self.net).requires_grad_(False)
        self.gamma = gamma
        self.loss_fn = LOSSES[loss]
        self.eps_start, self.eps_end, self.eps_last_frame = eps_start, eps_end, eps_last_frame
        self.sync_rate = sync_rate
        self._first_episode = 0  # index of the epoch's first training episode in the DataModule's list
        self.save_hyperparameters(
            {
                "observation_dim": observation_dim,
                "num_actions": num_actions,
                "hidden_sizes": hidden_sizes,
                "activation": activation,
                "gamma": gamma,
                "loss": loss,
                "eps_start": eps_start,
                "eps_end": eps_end,
                "eps_last_frame": eps_last_frame,
                "sync_rate": sync_rate,
            }
        )

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        return self.net(observation)

    @property
    def replay_data(self) -> ReplayDataModule:
        return self.trainer.datamodule

    def epsilon(self, step: int | None = None) -> float:
        """The exploration rate at training step `step` (default: the trainer's global step)."""
        step = self.global_step if step is None else step
        fraction = min(1.0, step / self.eps_last_frame)
        return self.eps_start + fraction * (self.eps_end - self.eps_start)

    @torch.no_grad()
    def policy(self, observation: torch.Tensor) -> torch.Tensor:
        """Q-values of one observation, for the DataModule's play."""
        return self.net(observation.to(self.device))

    def td_loss(self, batch: Transition) -> torch.Tensor:
        observation, action, reward, done, next_observation = batch
        q = self.net(observation).gather(1, action.unsqueeze(1)).squeeze(1)
        with torch.no_grad():
            next_value = self.target_net(next_observation).max(dim=1).values
            target = reward + self.gamma * next_value * (~done).to(reward.dtype)
        return self.loss_fn(q, target)

    def on_train_epoch_start(self) -> None:
        self._first_episode = len(self.replay_data.episode_returns)

    def training_step(self, batch: Transition, batch_idx: int) -> torch.Tensor:
        self.replay_data.play_step(self.policy, self.epsilon())
        loss = self.td_loss(Transition(*batch))
        if self.global_step % self.sync_rate == 0:
            self.target_net.load_state_dict(self.net.state_dict())
        self.log("train/loss", loss, on_step=True, on_epoch=True, batch_size=len(batch[0]))
        return loss

    def on_train_epoch_end(self) -> None:
        returns = self.replay_data.episode_returns[self._first_episode :]
        if returns:
            self.log("train/episode_return", sum(returns) / len(returns))
        self.log("train/epsilon", self.epsilon())

    def validation_step(self, seed: int, batch_idx: int) -> None:
        self.log("val/return", self.replay_data.evaluate_episode(self.policy, int(seed)), batch_size=1)

    def test_step(self, seed: int, batch_idx: int) -> None:
        self.log("test/return", self.replay_data.evaluate_episode(self.policy, int(seed)), batch_size=1)
