"""Value iteration, policy evaluation and the Q-learning update on hand-made MDPs (book section 8.4)."""

import gymnasium as gym
import numpy as np
import pytest

from mde_exp import mdp
from mde_exp.q_learning import epsilon_greedy, q_learning, q_update


def two_state_mdp(p: float = 0.8) -> mdp.TabularMDP:
    """States 0, 1; action 0 'stay' (reward 1 in state 1, else 0), action 1 'switch' (reward 0, moves to
    the other state with probability p, else stays). Nothing terminates."""
    P = np.zeros((2, 2, 2))
    P[0, 0, 0] = P[1, 0, 1] = 1.0
    P[0, 1] = [1 - p, p]
    P[1, 1] = [p, 1 - p]
    R = np.array([[0.0, 0.0], [1.0, 0.0]])
    return mdp.TabularMDP(P, R, np.zeros((2, 2, 2)))


def test_value_iteration_on_a_two_state_mdp_with_a_known_answer():
    gamma, p = 0.9, 0.8
    model = two_state_mdp(p)
    V, history = mdp.value_iteration(model, gamma)
    # In state 1 stay forever: 1 / (1 - gamma). In state 0 switch until it works:
    # V0 = gamma (p V1 + (1 - p) V0)  =>  V0 = gamma p V1 / (1 - gamma (1 - p)).
    v1 = 1 / (1 - gamma)
    v0 = gamma * p * v1 / (1 - gamma * (1 - p))
    np.testing.assert_allclose(V, [v0, v1], atol=1e-9)
    np.testing.assert_allclose(mdp.bellman_optimality(model, V, gamma), V, atol=1e-10)
    assert list(mdp.greedy_policy(mdp.q_values(model, V, gamma))) == [1, 0]
    errors = np.array([np.max(np.abs(h - V)) for h in history])
    assert np.all(errors[1:][errors[:-1] > 1e-8] <= gamma * errors[:-1][errors[:-1] > 1e-8] + 1e-12)


def test_policy_evaluation_is_the_linear_solve_and_matches_simulation():
    gamma, model = 0.9, two_state_mdp(0.8)
    policy = np.array([1, 0])
    V = mdp.policy_evaluation(model, policy, gamma)
    P_pi = np.array([[0.2, 0.8], [0.0, 1.0]])
    np.testing.assert_allclose((np.eye(2) - gamma * P_pi) @ V, [0.0, 1.0], atol=1e-12)
    # a worse policy (always stay) is worth less in state 0 and the same in state 1
    V_stay = mdp.policy_evaluation(model, np.array([0, 0]), gamma)
    assert V_stay[0] == pytest.approx(0.0) and V_stay[1] == pytest.approx(V[1])
    # repeated application of the policy's Bellman operator converges to the same values
    W = np.zeros(2)
    for _ in range(500):
        W = model.R[[0, 1], policy] + gamma * P_pi @ W
    np.testing.assert_allclose(W, V, atol=1e-9)


def test_from_gymnasium_builds_frozenlake_and_terminal_states_are_worth_zero():
    env = gym.make("FrozenLake-v1", map_name="4x4", is_slippery=True)
    model = mdp.from_gymnasium(env.unwrapped.P)
    assert model.P.shape == (16, 4, 16) and np.allclose(model.P.sum(-1), 1.0)
    assert model.R[14, 2] == pytest.approx(1 / 3)  # right from the cell left of G: 1/3 slips onto G
    V, _ = mdp.value_iteration(model, 0.99)
    desc = env.unwrapped.desc.astype(str).ravel()
    assert np.all(V[(desc == "H") | (desc == "G")] == 0.0) and np.all(V[desc == "F"] >= 0)
    policy = mdp.greedy_policy(mdp.q_values(model, V, 0.99))
    np.testing.assert_allclose(mdp.policy_evaluation(model, policy, 0.99), V, atol=1e-8)
    # the optimal policy reaches G most of the time; always moving left rarely does
    success = mdp.success_probability(model, policy, 0, 15, 100)
    assert 0.6 < success < 1.0
    assert mdp.success_probability(model, np.zeros(16, dtype=int), 0, 15, 100) < success


def test_success_probability_is_exact_on_a_deterministic_lake():
    env = gym.make("FrozenLake-v1", map_name="4x4", is_slippery=False)
    model = mdp.from_gymnasium(env.unwrapped.P)
    path = np.full(16, 0)
    for s, a in {0: 1, 4: 1, 8: 2, 9: 1, 13: 2, 14: 2}.items():  # down, down, right, down, right, right
        path[s] = a
    assert mdp.success_probability(model, path, 0, 15, 100) == pytest.approx(1.0)
    assert mdp.success_probability(model, path, 0, 15, 5) == 0.0  # six steps are needed
    assert mdp.success_probability(model, path, 0, 15, 6) == pytest.approx(1.0)


def test_q_learning_update_on_a_hand_transition():
    Q = np.array([[1.0, 2.0], [3.0, 5.0]])
    td = q_update(Q, s=0, a=1, r=1.0, s_next=1, done=False, alpha=0.5, gamma=0.9)
    assert td == pytest.approx(1.0 + 0.9 * 5.0 - 2.0)
    assert Q[0, 1] == pytest.approx(2.0 + 0.5 * 3.5) and Q[0, 0] == 1.0 and list(Q[1]) == [3.0, 5.0]
    td = q_update(Q, s=1, a=0, r=2.0, s_next=0, done=True, alpha=0.25, gamma=0.9)  # terminal: no bootstrap
    assert td == pytest.approx(-1.0) and Q[1, 0] == pytest.approx(2.75)


def test_epsilon_greedy_and_bad_arguments():
    rng = np.random.default_rng(0)
    Q = np.array([[0.0, 1.0, 0.0]])
    assert {epsilon_greedy(Q, 0, 0.0, rng) for _ in range(50)} == {1}
    assert {epsilon_greedy(Q, 0, 1.0, rng) for _ in range(200)} == {0, 1, 2}
    env = gym.make("FrozenLake-v1")
    with pytest.raises(ValueError, match="alpha=0"):
        q_learning(env, 10, alpha=0.0)
    with pytest.raises(ValueError, match="gamma=1"):
        mdp.value_iteration(two_state_mdp(), 1.0)


def test_q_learning_solves_the_deterministic_lake():
    env = gym.make("FrozenLake-v1", map_name="4x4", is_slippery=False)
    model = mdp.from_gymnasium(env.unwrapped.P)
    Q, returns = q_learning(env, 400, gamma=0.9, alpha=0.5, seed=0)
    assert mdp.success_probability(model, mdp.greedy_policy(Q), 0, 15, 100) == pytest.approx(1.0)
    assert returns[-50:].mean() > returns[:50].mean()
