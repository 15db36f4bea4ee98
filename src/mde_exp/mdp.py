"""Finite Markov decision processes solved exactly: value iteration and policy evaluation (book section 8.4).

A tabular MDP holds P[s, a, s'] (transition probabilities), R[s, a] (expected one-step reward) and
D[s, a, s'] (1 where the step from s to s' ends the episode: no value is carried on from s'). The
Bellman optimality operator (the book's equation 8.72) is

    (T V)(s) = max_a  R(s, a) + gamma * sum_s' P(s, a, s') (1 - D(s, a, s')) V(s'),

a gamma-contraction in the sup norm, so value iteration V_{k+1} = T V_k converges to its fixed point V*
geometrically: ||V_{k+1} - V*|| <= gamma ||V_k - V*||. A policy's exact value solves the linear system
(I - gamma P_pi) V = r_pi.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TabularMDP:
    """P (S, A, S) transition probabilities, R (S, A) expected rewards, D (S, A, S) episode ends."""

    P: np.ndarray
    R: np.ndarray
    D: np.ndarray

    def __post_init__(self) -> None:
        S, A = self.R.shape
        if self.P.shape != (S, A, S) or self.D.shape != (S, A, S):
            raise ValueError(f"P.shape={self.P.shape}, D.shape={self.D.shape}: both must be {(S, A, S)}")
        if not np.allclose(self.P.sum(-1), 1.0):
            raise ValueError("P: every row P[s, a, :] must sum to 1")

    @property
    def num_states(self) -> int:
        return self.R.shape[0]

    @property
    def num_actions(self) -> int:
        return self.R.shape[1]

    @property
    def continuation(self) -> np.ndarray:
        """P(s, a, s') (1 - D(s, a, s')): the probability of moving to s' with the episode going on."""
        return self.P * (1.0 - self.D)


def from_gymnasium(transitions: dict[int, dict[int, list[tuple]]]) -> TabularMDP:
    """The MDP of a gymnasium toy-text model `env.unwrapped.P`: {s: {a: [(p, s', r, terminated)]}}."""
    S, A = len(transitions), len(transitions[0])
    P, R, D = np.zeros((S, A, S)), np.zeros((S, A)), np.zeros((S, A, S))
    for s, actions in transitions.items():
        for a, outcomes in actions.items():
            for p, s_next, r, terminated in outcomes:
                P[s, a, s_next] += p
                R[s, a] += p * r
                if terminated:
                    D[s, a, s_next] = 1.0
    return TabularMDP(P, R, D)


def q_values(mdp: TabularMDP, V: np.ndarray, gamma: float) -> np.ndarray:
    """Q(s, a) = R(s, a) + gamma * sum_s' P(s, a, s') (1 - D(s, a, s')) V(s')."""
    return mdp.R + gamma * mdp.continuation @ V


def bellman_optimality(mdp: TabularMDP, V: np.ndarray, gamma: float) -> np.ndarray:
    """One application of the Bellman optimality operator (book equation 8.72): max_a Q(s, a)."""
    return q_values(mdp, V, gamma).max(axis=1)


def value_iteration(
    mdp: TabularMDP, gamma: float, tol: float = 1e-12, max_iter: int = 100_000
) -> tuple[np.ndarray, list[np.ndarray]]:
    """V* by V_{k+1} = T V_k from V_0 = 0 until ||V_{k+1} - V_k||_inf <= tol: V* and [V_0, V_1, ...]."""
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"gamma={gamma}: value iteration needs a discount in [0, 1)")
    V = np.zeros(mdp.num_states)
    history = [V]
    for _ in range(max_iter):
        V_next = bellman_optimality(mdp, V, gamma)
        history.append(V_next)
        if np.max(np.abs(V_next - V)) <= tol:
            return V_next, history
        V = V_next
    raise RuntimeError(f"value iteration did not reach tol={tol} in {max_iter} iterations")


def greedy_policy(Q: np.ndarray, decimals: int = 10) -> np.ndarray:
    """argmax_a Q(s, a) per state (ties, after rounding to `decimals`, go to the lowest action)."""
    return np.round(Q, decimals).argmax(axis=1)


def policy_evaluation(mdp: TabularMDP, policy: np.ndarray, gamma: float) -> np.ndarray:
    """The exact value of a deterministic policy: the solution of (I - gamma P_pi) V = r_pi."""
    states = np.arange(mdp.num_states)
    P_pi = mdp.continuation[states, policy]
    r_pi = mdp.R[states, policy]
    return np.linalg.solve(np.eye(mdp.num_states) - gamma * P_pi, r_pi)


def success_probability(mdp: TabularMDP, policy: np.ndarray, start: int, goal: int, horizon: int) -> float:
    """The exact probability that `policy` from `start` reaches `goal` within `horizon` steps
    (the state distribution pushed forward step by step; ended episodes stop)."""
    states = np.arange(mdp.num_states)
    P_pi, D_pi = mdp.P[states, policy], mdp.D[states, policy]
    alive = np.zeros(mdp.num_states)
    alive[start] = 1.0
    reached = 0.0
    for _ in range(horizon):
        reached += alive @ (P_pi * D_pi)[:, goal]
        alive = alive @ (P_pi * (1.0 - D_pi))
    return float(reached)
