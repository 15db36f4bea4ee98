"""Tabular Q-learning with epsilon-greedy exploration, by hand in numpy (book section 8.4).

The update after a step (s, a, r, s') is the stochastic-approximation form of the Bellman optimality
equation:  Q(s, a) <- Q(s, a) + alpha (r + gamma (1 - done) max_a' Q(s', a') - Q(s, a)),
where `done` marks a terminal s' (an episode cut by a time limit is not terminal).
"""

from collections.abc import Callable

import gymnasium as gym
import numpy as np


def q_update(
    Q: np.ndarray, s: int, a: int, r: float, s_next: int, done: bool, alpha: float, gamma: float
) -> float:
    """Apply one Q-learning update in place; returns the temporal-difference error."""
    target = r + (0.0 if done else gamma * Q[s_next].max())
    td = target - Q[s, a]
    Q[s, a] += alpha * td
    return float(td)


def epsilon_greedy(Q: np.ndarray, s: int, epsilon: float, rng: np.random.Generator) -> int:
    """A random action with probability epsilon, else a greedy one (ties broken at random)."""
    if rng.random() < epsilon:
        return int(rng.integers(Q.shape[1]))
    best = np.flatnonzero(Q[s] == Q[s].max())
    return int(rng.choice(best))


def q_learning(
    env: gym.Env,
    episodes: int,
    gamma: float = 0.99,
    alpha: float = 0.1,
    eps_start: float = 1.0,
    eps_end: float = 0.05,
    eps_decay_episodes: int | None = None,
    seed: int = 0,
    callback: Callable[[int, np.ndarray], None] | None = None,
    callback_every: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Q-learning for `episodes` episodes of a discrete-state, discrete-action gymnasium env.

    Epsilon falls linearly from eps_start to eps_end over eps_decay_episodes (default: half the
    episodes). Returns the table Q and each episode's (undiscounted) return. `callback(episode, Q)` is
    called after every `callback_every` episodes (if positive).
    """
    if episodes < 1:
        raise ValueError(f"episodes={episodes}: must be positive")
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha={alpha}: the step size must lie in (0, 1]")
    decay = eps_decay_episodes or max(1, episodes // 2)
    rng = np.random.default_rng(seed)
    Q = np.zeros((env.observation_space.n, env.action_space.n))
    returns = np.zeros(episodes)
    for episode in range(episodes):
        epsilon = eps_start + min(1.0, episode / decay) * (eps_end - eps_start)
        s, _ = env.reset(seed=int(rng.integers(2**31)))
        total, ended = 0.0, False
        while not ended:
            a = epsilon_greedy(Q, s, epsilon, rng)
            s_next, r, terminated, truncated, _ = env.step(a)
            q_update(Q, s, a, float(r), s_next, terminated, alpha, gamma)
            total += float(r)
            s, ended = s_next, terminated or truncated
        returns[episode] = total
        if callback_every > 0 and (episode + 1) % callback_every == 0 and callback is not None:
            callback(episode + 1, Q)
    return Q, returns
