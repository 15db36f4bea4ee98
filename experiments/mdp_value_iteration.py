"""mdp-value-iteration: an MDP solved exactly by value iteration (book section 8.4, equation 8.72).

The MDP is FrozenLake (gymnasium's slippery 4 x 4 lake; 8 x 8 in the full profile) with its exact
transition model env.unwrapped.P: from S reach G (reward 1) without falling into a hole H; each move
goes the intended way or to one of the two sideways directions, each with probability 1/3. (The book's
companion sources hold no MDP example of their own.) Value iteration applies the Bellman optimality
operator V_{k+1}(s) = max_a R(s, a) + gamma sum_s' P(s, a, s') V_k(s') from V_0 = 0 (src/mde_exp/mdp.py).
The figure: V* and the greedy policy's arrows on the grid, and ||V_k - V*||_inf against k beside the
contraction bound gamma^k ||V_0 - V*||_inf. The greedy policy is then evaluated exactly by a linear solve.
"""

import gymnasium as gym
import numpy as np

from mde_exp import mdp
from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput

SETTINGS = {
    "tiny": {"map_name": "4x4", "gamma": 0.99},
    "quick": {"map_name": "4x4", "gamma": 0.99},
    "full": {"map_name": "8x8", "gamma": 0.99},
}
BELLMAN_TOL = 1e-8  # |T V* - V*| at the fixed point
RATE_FLOOR = 1e-8  # errors below this are too close to the solver's tolerance to give a rate
ARROWS = {0: (-1, 0), 1: (0, -1), 2: (1, 0), 3: (0, 1)}  # FrozenLake: left, down, right, up (dx, dy)


def frozen_lake(map_name: str) -> tuple[gym.Env, np.ndarray]:
    env = gym.make("FrozenLake-v1", map_name=map_name, is_slippery=True)
    return env, env.unwrapped.desc.astype(str)


def draw_values_and_policy(ax, V: np.ndarray, policy: np.ndarray, desc: np.ndarray, title: str) -> None:
    """V on the lake's grid as a heat map, the policy as arrows on the frozen cells, S H G marked."""
    rows, cols = desc.shape
    image = ax.imshow(V.reshape(rows, cols), cmap="viridis", vmin=0.0)
    for s in range(rows * cols):
        r, c = divmod(s, cols)
        cell = desc[r, c]
        if cell in "HG":
            ax.text(c, r, cell, ha="center", va="center", fontsize=14, fontweight="bold", color="white")
            continue
        dx, dy = ARROWS[int(policy[s])]
        ax.annotate(
            "",
            (c + 0.32 * dx, r - 0.32 * dy),
            (c - 0.32 * dx, r + 0.32 * dy),
            arrowprops={"arrowstyle": "->", "color": "white", "lw": 2},
        )
        label = f"S {V[s]:.2f}" if cell == "S" else f"{V[s]:.2f}"
        ax.text(c, r + 0.38, label, ha="center", va="bottom", fontsize=7, color="white")
    ax.set(title=title, xticks=range(cols), yticks=range(rows), xlabel="column", ylabel="row")
    ax.grid(False)
    ax.figure.colorbar(image, ax=ax, shrink=0.8, label="V*(s)")


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    gamma = settings["gamma"]
    env, desc = frozen_lake(settings["map_name"])
    model = mdp.from_gymnasium(env.unwrapped.P)
    V_star, history = mdp.value_iteration(model, gamma)
    Q_star = mdp.q_values(model, V_star, gamma)
    policy = mdp.greedy_policy(Q_star)
    errors = np.array([np.max(np.abs(V - V_star)) for V in history])
    bound = gamma ** np.arange(len(errors)) * errors[0]
    usable = errors[:-1] > RATE_FLOOR
    ratios = errors[1:][usable] / errors[:-1][usable]
    k_last = int(np.flatnonzero(usable)[-1]) + 1
    observed_rate = float((errors[k_last] / errors[0]) ** (1.0 / k_last))
    bellman_residual = float(np.max(np.abs(mdp.bellman_optimality(model, V_star, gamma) - V_star)))
    V_policy = mdp.policy_evaluation(model, policy, gamma)
    policy_gap = float(np.max(np.abs(V_policy - V_star)))
    start = int(np.flatnonzero(desc.ravel() == "S")[0])
    goal = int(np.flatnonzero(desc.ravel() == "G")[0])
    horizon = int(env.spec.max_episode_steps)
    success = mdp.success_probability(model, policy, start, goal, horizon)

    fig, axes = subplots(1, 3, figsize=(16, 5))
    draw_values_and_policy(
        axes[0],
        V_star,
        policy,
        desc,
        f"(a) V* and the greedy policy, FrozenLake {settings['map_name']}, γ = {gamma}",
    )
    k = np.arange(len(errors))
    axes[1].semilogy(k, errors, color="tab:blue", lw=2, label="‖V_k − V*‖∞ (value iteration)")
    axes[1].semilogy(
        k, bound, "--", color="tab:red", label=f"γ^k ‖V_0 − V*‖∞ (contraction bound, γ = {gamma})"
    )
    axes[1].axhline(
        RATE_FLOOR, color="gray", ls=":", lw=1, label=f"{RATE_FLOOR:g}: below, rates not measured"
    )
    axes[1].set(
        title=f"(b) convergence: {len(history) - 1} iterations to 1e-12",
        xlabel="iteration k",
        ylabel="sup-norm error",
        ylim=(1e-13, 2),
    )
    axes[1].legend()
    axes[2].plot(
        np.flatnonzero(usable), ratios, ".", color="tab:blue", ms=3, label="‖V_{k+1} − V*‖ / ‖V_k − V*‖"
    )
    axes[2].axhline(gamma, color="tab:red", ls="--", label=f"γ = {gamma} (claim: every ratio ≤ γ)")
    axes[2].axhline(
        observed_rate, color="tab:green", ls=":", label=f"geometric-mean rate {observed_rate:.4f}"
    )
    axes[2].set(
        title="(c) one-step error ratios",
        xlabel="iteration k",
        ylabel="error ratio",
        ylim=(min(0.5, ratios.min() - 0.02), 1.01),
    )
    axes[2].legend(loc="lower right")
    figure = save_figure(fig, ctx.out_dir, "mdp-value-iteration")

    claims = [
        Claim(
            "the fixed point of value iteration satisfies the Bellman optimality equation (8.72)",
            f"max_s |T V*(s) - V*(s)| <= {BELLMAN_TOL:g}",
            bellman_residual,
            bellman_residual <= BELLMAN_TOL,
        ),
        Claim(
            "value iteration converges geometrically at rate at most gamma (a sup-norm contraction)",
            f"every ||V_(k+1) - V*|| / ||V_k - V*|| <= gamma = {gamma} (errors above {RATE_FLOOR:g})",
            {"max_ratio": float(ratios.max()), "geometric_mean_rate": observed_rate},
            bool(ratios.max() <= gamma + 1e-12),
        ),
        Claim(
            "the greedy policy of V* is optimal: its exact value (linear solve) equals V*",
            f"max_s |V_pi(s) - V*(s)| <= {BELLMAN_TOL:g}",
            policy_gap,
            policy_gap <= BELLMAN_TOL,
        ),
    ]
    values = {
        "map_name": settings["map_name"],
        "gamma": gamma,
        "iterations": len(history) - 1,
        "V_star": V_star.round(6).tolist(),
        "policy": policy.tolist(),
        "V_star_start": float(V_star[start]),
        "bellman_residual": bellman_residual,
        "max_error_ratio": float(ratios.max()),
        "geometric_mean_rate": observed_rate,
        "policy_value_gap": policy_gap,
        "success_probability_within_time_limit": success,
        "time_limit": horizon,
    }
    return RecipeOutput(figure, claims, values=values)


RECIPE = Recipe(
    id="mdp-value-iteration",
    title="Value iteration on FrozenLake: the optimal values, policy and geometric convergence",
    book_ref="Section 8.4 (value iteration, equation 8.72)",
    chapter=8,
    claim="value iteration nears the Bellman fixed point at rate <= gamma; its greedy policy is optimal",
    run=run,
    minutes_quick=0.05,
)
