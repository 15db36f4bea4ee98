"""q-learning: tabular Q-learning on FrozenLake against value iteration's optimum (book section 8.4).

Q-learning (src/mde_exp/q_learning.py, numpy, by hand) plays gymnasium's slippery 4 x 4 FrozenLake with
epsilon-greedy exploration (epsilon from 1 down to 0.05 over the first half of the episodes), step size
alpha = 0.1 and gamma = 0.99. Every `eval_every` episodes the greedy policy of the table is scored
exactly: its probability of reaching the goal within the environment's time limit (100 steps), from the
transition model env.unwrapped.P (src/mde_exp/mdp.py). The optimum it is compared with is the greedy
policy of value iteration's V* (recipe mdp-value-iteration), scored the same way.
"""

import gymnasium as gym
import numpy as np

from mde_exp import mdp
from mde_exp.figures.style import save_figure, subplots
from mde_exp.q_learning import q_learning
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput

SETTINGS = {
    "tiny": {"episodes": 5000, "eval_every": 250, "seeds": [0]},
    "quick": {"episodes": 10000, "eval_every": 100, "seeds": [0, 1, 2]},
    "full": {"episodes": 50000, "eval_every": 500, "seeds": [0, 1, 2, 3, 4]},
}
GAMMA, ALPHA = 0.99, 0.1
MARGIN = 0.05  # the learned greedy policy's success probability at most this below the optimum
WINDOW = 200  # episodes in the moving average of the training success rate
ARROWS = {0: (-1, 0), 1: (0, -1), 2: (1, 0), 3: (0, 1)}  # left, down, right, up (dx, dy)


def draw_policies(
    ax, learned: np.ndarray, optimal: np.ndarray, is_optimal: np.ndarray, desc: np.ndarray, title: str
) -> None:
    """The optimal policy's arrows (grey, wide) under the learned one's: blue where the two agree, green
    where the learned action differs but is equally optimal (a tie in Q*), red where it is worse."""
    rows, cols = desc.shape
    colours = {"S": "#dff0ff", "F": "#eef7ff", "H": "#333333", "G": "#ffd54f"}
    for s in range(rows * cols):
        r, c = divmod(s, cols)
        cell = desc[r, c]
        ax.add_patch(plt_rectangle(c, r, colours[cell]))
        if cell in "HG":
            ax.text(
                c,
                r,
                cell,
                ha="center",
                va="center",
                fontsize=14,
                fontweight="bold",
                color="white" if cell == "H" else "black",
            )
            continue
        for policy, colour, lw, size in ((optimal, "lightgray", 7, 0.36), (learned, None, 2, 0.3)):
            dx, dy = ARROWS[int(policy[s])]
            if colour is None:
                colour = (
                    "tab:blue" if learned[s] == optimal[s] else "tab:green" if is_optimal[s] else "tab:red"
                )
            ax.annotate(
                "",
                (c + size * dx, r - size * dy),
                (c - size * dx, r + size * dy),
                arrowprops={"arrowstyle": "->", "color": colour, "lw": lw},
            )
    ax.set(
        title=title,
        xlim=(-0.5, cols - 0.5),
        ylim=(rows - 0.5, -0.5),
        xticks=range(cols),
        yticks=range(rows),
        xlabel="column",
        ylabel="row",
        aspect="equal",
    )
    ax.grid(False)


def plt_rectangle(c: int, r: int, colour: str):
    from matplotlib.patches import Rectangle

    return Rectangle((c - 0.5, r - 0.5), 1, 1, facecolor=colour, edgecolor="white")


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    env = gym.make("FrozenLake-v1", map_name="4x4", is_slippery=True)
    desc = env.unwrapped.desc.astype(str)
    model = mdp.from_gymnasium(env.unwrapped.P)
    start, goal = int(np.flatnonzero(desc.ravel() == "S")[0]), int(np.flatnonzero(desc.ravel() == "G")[0])
    horizon = int(env.spec.max_episode_steps)
    V_star, _ = mdp.value_iteration(model, GAMMA)
    optimal = mdp.greedy_policy(mdp.q_values(model, V_star, GAMMA))
    optimal_success = mdp.success_probability(model, optimal, start, goal, horizon)

    curves, returns, final_success, policies, value_gaps = [], [], [], [], []
    for seed in settings["seeds"]:
        curve: list[float] = []

        def score(episode: int, Q: np.ndarray, curve: list[float] = curve) -> None:
            curve.append(mdp.success_probability(model, mdp.greedy_policy(Q), start, goal, horizon))

        Q, episode_returns = q_learning(
            env,
            settings["episodes"],
            gamma=GAMMA,
            alpha=ALPHA,
            seed=seed,
            callback=score,
            callback_every=settings["eval_every"],
        )
        policy = mdp.greedy_policy(Q)
        curves.append(curve)
        returns.append(episode_returns)
        policies.append(policy)
        final_success.append(mdp.success_probability(model, policy, start, goal, horizon))
        value_gaps.append(float(np.max(np.abs(Q.max(axis=1) - V_star))))
    curves_arr = np.array(curves)
    frozen = np.array([cell in "SF" for cell in desc.ravel()])
    agreement = [int((p == optimal)[frozen].sum()) for p in policies]
    Q_star = mdp.q_values(model, V_star, GAMMA)
    states = np.arange(len(V_star))
    # a learned action is optimal where it attains max_a Q*(s, a) (ties: several actions do)
    optimal_actions = [Q_star[states, p] >= V_star - 1e-9 for p in policies]
    n_optimal = [int(o[frozen].sum()) for o in optimal_actions]

    fig, axes = subplots(1, 2, figsize=(14, 5.2), gridspec_kw={"width_ratios": [1.6, 1]})
    checkpoints = np.arange(1, curves_arr.shape[1] + 1) * settings["eval_every"]
    for i in range(len(settings["seeds"])):
        axes[0].plot(
            checkpoints,
            curves_arr[i],
            color="tab:blue",
            alpha=0.35,
            lw=1,
            label="greedy policy, exact success probability (each seed)" if i == 0 else None,
        )
        moving = np.convolve(returns[i], np.ones(WINDOW) / WINDOW, mode="valid")
        axes[0].plot(
            np.arange(WINDOW, len(returns[i]) + 1),
            moving,
            color="tab:orange",
            alpha=0.5,
            lw=1,
            label=f"training episodes, ε-greedy: success rate ({WINDOW}-episode mean)" if i == 0 else None,
        )
    axes[0].plot(
        checkpoints, curves_arr.mean(0), color="tab:blue", lw=2.2, label="greedy policy, mean over seeds"
    )
    axes[0].axhline(
        optimal_success, color="k", ls="--", label=f"optimal policy (value iteration): {optimal_success:.3f}"
    )
    axes[0].axhspan(
        optimal_success - MARGIN,
        optimal_success,
        color="tab:green",
        alpha=0.12,
        label=f"claim: within {MARGIN} of the optimum at the end",
    )
    axes[0].set(
        title=f"(a) Q-learning on FrozenLake 4x4 (slippery), α = {ALPHA}, γ = {GAMMA}",
        xlabel="episode",
        ylabel=f"probability of reaching G within {horizon} steps",
        ylim=(-0.02, 1.0),
    )
    axes[0].legend(loc="upper left")
    draw_policies(
        axes[1],
        policies[0],
        optimal,
        optimal_actions[0],
        desc,
        f"(b) learned greedy policy (seed {settings['seeds'][0]})\non the optimal one (grey arrows)\n"
        f"blue: same, green: a tied optimal action, red: worse\n"
        f"{n_optimal[0]} of {frozen.sum()} learned actions optimal",
    )
    figure = save_figure(fig, ctx.out_dir, "q-learning")

    worst = float(min(final_success))
    claims = [
        Claim(
            "Q-learning's greedy policy approaches the optimal one: its exact success probability "
            f"is within {MARGIN} of value iteration's optimum (every seed)",
            f"min over seeds of P(success) >= {optimal_success:.4f} - {MARGIN}",
            {"learned": [float(x) for x in final_success], "optimal": optimal_success},
            worst >= optimal_success - MARGIN,
        ),
    ]
    values = {
        "episodes": settings["episodes"],
        "seeds": settings["seeds"],
        "optimal_success": optimal_success,
        "learned_success": [float(x) for x in final_success],
        "shortfall": float(optimal_success - worst),
        "policy_agreement_frozen_states": agreement,
        "optimal_actions_frozen_states": n_optimal,
        "frozen_states": int(frozen.sum()),
        "max_abs_Q_value_gap": value_gaps,
        "final_training_success_rate": [float(r[-WINDOW:].mean()) for r in returns],
        "success_curve_mean": curves_arr.mean(0).round(4).tolist(),
    }
    return RecipeOutput(figure, claims, values=values)


RECIPE = Recipe(
    id="q-learning",
    title="Tabular Q-learning on FrozenLake against value iteration's optimal policy",
    book_ref="Section 8.4 (Q-learning)",
    chapter=8,
    claim="epsilon-greedy Q-learning's greedy policy reaches near-optimal success on FrozenLake",
    run=run,
    minutes_quick=0.3,
)
