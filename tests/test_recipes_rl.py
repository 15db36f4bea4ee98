"""The reinforcement-learning recipes (book section 8.4) at the smallest scale: claims, values, figures."""

import pytest

from mde_exp.recipes import load_recipes
from mde_exp.store import compose

from .conftest import reproduce_at_smallest_scale

RL_RECIPES = ("mdp-value-iteration", "q-learning", "dqn-cartpole")


def test_rl_recipes_are_chapter_8_and_the_dqn_experiment_composes():
    recipes = load_recipes()
    for rid in RL_RECIPES:
        assert recipes[rid].chapter == 8 and recipes[rid].book_ref.startswith("Section 8.4")
    cfg = compose(["+experiment=dqn_cartpole"])
    assert cfg.model._target_ == "mde_exp.models.dqn.DQN" and cfg.data.env_id == "CartPole-v1"
    assert cfg.figure_id == "dqn-cartpole" and cfg.data.eval_episodes == 10


def test_value_iteration_and_q_learning_recipes_at_the_smallest_scale(tmp_path):
    records = reproduce_at_smallest_scale(tmp_path, ["mdp-value-iteration", "q-learning"])
    vi = records["mdp-value-iteration"]["values"]
    assert vi["bellman_residual"] < 1e-8 and vi["policy_value_gap"] < 1e-8
    assert vi["max_error_ratio"] <= vi["gamma"]
    assert len(vi["V_star"]) == 16 and vi["V_star"][5] == 0.0  # a hole is worth nothing
    # the start state's value: gymnasium's slippery 4 x 4 lake at gamma 0.99
    assert vi["V_star_start"] == pytest.approx(0.5420, abs=1e-3)
    ql = records["q-learning"]["values"]
    assert ql["learned_success"][0] >= ql["optimal_success"] - 0.05
    assert ql["optimal_success"] == pytest.approx(vi["success_probability_within_time_limit"])
    # the greedy policy early in training is far from optimal: the curve rises
    assert ql["success_curve_mean"][0] < ql["success_curve_mean"][-1]


def test_dqn_cartpole_recipe_at_the_smallest_scale(tmp_path, one_thread):
    record = reproduce_at_smallest_scale(tmp_path, ["dqn-cartpole"])["dqn-cartpole"]
    values = record["values"]
    assert values["solved_threshold"] == 475.0
    mean = values["final_mean_return"]["0"]
    assert values["shortfall_from_solved"]["0"] == pytest.approx(max(0.0, 475.0 - mean))
    assert values["training_episodes"]["0"] > 5 and len(record["runs"]) == 1
