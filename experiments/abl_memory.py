"""abl-memory: the plain RNN against the LSTM and the GRU on a long-range memory task as the gap grows,
and the vanishing gradient behind it (book sections 7.2-7.3).

Runs experiment memory_sweep: one letter (a-h), `gap` blanks, SEP, and the letter again, as causal language
modelling; the recall accuracy is the next-token accuracy at SEP (the remembered letter), chance 1 in 8.
(a) recall accuracy against the gap for the three cells; (b) the norm of d loss / d h_t, the gradient of
the recall loss of one sequence with respect to the hidden state at step t, against t on a log scale, at
the largest gap, computed with autograd through the book's cells (mde_exp.nn.recurrent: the trained
torch weights are copied in, so every h_t is a node of the graph and h_t.grad is the total derivative
through all later steps): after training and at initialisation. The plain RNN's gradient decays
geometrically going back from SEP, so the letter at t = 0 cannot be learnt; the gates keep it.
"""

import copy
import math

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from mde_exp.data.sequences import source_lengths
from mde_exp.figures.style import save_figure, subplots
from mde_exp.nn.recurrent import BookRecurrent, copy_torch_weights, make_recurrent
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import load_datamodule, load_model

# Per profile: overrides of every run, the gaps swept, and the seeds that are repeated.
SETTINGS = {
    "tiny": {
        "overrides": ["trainer.max_epochs=5"],
        "gaps": "3,30",
        "seeds": [0],
    },
    "quick": {"overrides": ["trainer.max_epochs=8"], "gaps": "5,20,50", "seeds": [0, 1]},
    "full": {"overrides": ["trainer.max_epochs=30"], "gaps": "5,20,50,100", "seeds": [0, 1, 2]},
}
CELLS = ("rnn", "lstm", "gru")
NAMES = {"rnn": "plain RNN", "lstm": "LSTM", "gru": "GRU"}
COLOURS = {"rnn": "tab:red", "lstm": "tab:blue", "gru": "tab:green"}
MARKERS = {"rnn": "o", "lstm": "s", "gru": "o"}
RECALLED = 0.9  # "succeeds": recall accuracy at least this
NEAR_CHANCE = 0.2  # "near chance": recall accuracy at most chance + this
VANISHED = 1e-3  # "vanished": ||dL/dh_0|| / ||dL/dh_mid|| below this (mid: halfway to the recall)
KEPT = 0.1  # "kept": ||dL/dh_0|| / ||dL/dh_mid|| above this
GRADIENT_SEQUENCES = 200  # test sequences the gradient picture averages over


def _value(job: list[str], key: str) -> str:
    return next(o.split("=", 1)[1] for o in job if o.startswith(f"{key}="))


def recall_accuracy(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """The accuracy of the next-token prediction at SEP (the remembered letter) over the sequences."""
    rows, at = torch.arange(len(inputs)), source_lengths(inputs)
    with torch.no_grad():
        predicted = model(inputs).argmax(-1)[rows, at]
    return float((predicted == targets[rows, at]).float().mean())


def book_recurrent(model: torch.nn.Module) -> BookRecurrent:
    """The model's recurrent layer as the book's cells (its torch weights copied in, if it is torch's)."""
    if isinstance(model.recurrent, BookRecurrent):
        return model.recurrent
    layer = model.recurrent
    book = make_recurrent(
        model.hparams.cell, layer.input_size, layer.hidden_size, layer.num_layers, implementation="book"
    )
    return copy_torch_weights(layer, book)


def state_gradient_norms(
    model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor
) -> tuple[np.ndarray, float]:
    """||d loss_i / d h_t|| for t = 0..recall position, averaged over the sequences i, where loss_i is
    the cross-entropy of sequence i's prediction at SEP (its recall) and h_t the first layer's hidden
    state at step t; and the largest difference between the book cells' logits and the model's own.
    In float64: the plain RNN's gradient falls below float32's smallest number within a few dozen steps."""
    model = copy.deepcopy(model).double()
    at = source_lengths(inputs)
    if not torch.all(at == at[0]):
        raise ValueError("the gradient picture needs sequences whose SEP is at one position")
    recall_at = int(at[0])
    book = book_recurrent(model).double()
    output, _, history = book.run_states(model.embedding(inputs))
    for h in history[0][: recall_at + 1]:
        h.retain_grad()
    logits = model.readout(output[:, recall_at])
    with torch.no_grad():
        difference = float((logits - model(inputs)[:, recall_at]).abs().max())
    torch.nn.functional.cross_entropy(logits, targets[:, recall_at], reduction="sum").backward()
    norms = [float(h.grad.norm(dim=-1).mean()) for h in history[0][: recall_at + 1]]
    model.zero_grad(set_to_none=True)
    return np.array(norms), difference


def _fresh_model(directory, seed: int, vocab_size: int) -> torch.nn.Module:
    """A model of the run's configuration as initialised from the run's seed, untrained."""
    torch.manual_seed(seed)
    return instantiate(OmegaConf.load(directory / "config.yaml").model, vocab_size=vocab_size).eval()


def _geometric_mean(rows: list[np.ndarray]) -> np.ndarray:
    return np.exp(np.mean(np.log(np.stack(rows)), axis=0))


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    recall: dict[tuple[str, int], list[float]] = {}
    directories: dict[tuple[str, int], list] = {}
    statuses: dict[tuple[str, int], list[str]] = {}
    for seed in settings["seeds"]:
        jobs = ctx.sweep(
            [
                "+experiment=memory_sweep",
                f"seed={seed}",
                f"data.gap={settings['gaps']}",
                *settings["overrides"],
            ]
        )
        for job, result in jobs:
            key = (_value(job, "model.cell"), int(_value(job, "data.gap")))
            directories.setdefault(key, []).append((seed, result.dir))
            statuses.setdefault(key, []).append(result.status)
            inputs, targets, _ = load_datamodule(result.dir).splits["test"]
            recall.setdefault(key, []).append(recall_accuracy(load_model(result.dir), inputs, targets))
    gaps = sorted({g for _, g in recall})
    small, large = gaps[0], gaps[-1]
    mean = {k: float(np.mean(v)) for k, v in recall.items()}

    # The gradient picture at the largest gap: every seed's trained model and its initialisation.
    trained: dict[str, list[np.ndarray]] = {}
    initial: dict[str, list[np.ndarray]] = {}
    differences = []
    chance = math.nan
    for cell in CELLS:
        for seed, directory in directories[(cell, large)]:
            datamodule = load_datamodule(directory)
            chance = 1.0 / len(datamodule.alphabet)
            inputs, targets, _ = (t[:GRADIENT_SEQUENCES] for t in datamodule.splits["test"])
            norms, difference = state_gradient_norms(load_model(directory), inputs, targets)
            trained.setdefault(cell, []).append(norms)
            differences.append(difference)
            fresh = _fresh_model(directory, seed, datamodule.vocab_size)
            initial.setdefault(cell, []).append(state_gradient_norms(fresh, inputs, targets)[0])
    grad_trained = {c: _geometric_mean(v) for c, v in trained.items()}
    grad_initial = {c: _geometric_mean(v) for c, v in initial.items()}
    # How much of the gradient at the middle of the gap reaches the letter, ||dL/dh_0|| / ||dL/dh_mid||
    # (the first half of the gap: away from the few steps before SEP, where the readout's own gradient
    # enters), and the factor per step back fitted to log ||dL/dh_t|| over that half.
    mid = (large + 1) // 2
    reach = {c: float(g[0] / g[mid]) for c, g in grad_trained.items()}
    reach_initial = {c: float(g[0] / g[mid]) for c, g in grad_initial.items()}
    per_step = {c: float(np.exp(-np.polyfit(np.arange(mid + 1), np.log(g[: mid + 1]), 1)[0]))
                for c, g in grad_trained.items()}  # fmt: skip

    # -- figure ----------------------------------------------------------------------------------
    fig, axes = subplots(1, 2, figsize=(12.5, 4.8))
    ax = axes[0]
    for cell in CELLS:  # the LSTM's larger squares stay visible where the GRU's line lies on them
        ax.plot(gaps, [mean[(cell, g)] for g in gaps], MARKERS[cell] + "-", color=COLOURS[cell],
                ms=9 if cell == "lstm" else 6, label=NAMES[cell])  # fmt: skip
        xs = [g for g in gaps for _ in recall[(cell, g)]]
        ax.scatter(xs, [v for g in gaps for v in recall[(cell, g)]], color=COLOURS[cell], s=14, alpha=0.4)
    ax.axhline(chance, color="gray", ls=":", label=f"chance (1/{round(1 / chance)})")
    n_seeds = len(settings["seeds"])
    seeds_note = f"line: mean of {n_seeds} seeds, dots: each" if n_seeds > 1 else "one seed"
    ax.set(
        title=f"(a) recall of the letter across the gap ({seeds_note})",
        xlabel="gap (blanks between the letter and its recall)",
        ylabel="recall accuracy (test, at SEP)",
        ylim=(-0.02, 1.05),
        xticks=gaps,
    )
    ax.legend(loc="center left")
    ax = axes[1]
    for cell in CELLS:
        steps = np.arange(len(grad_trained[cell]))
        ax.semilogy(steps, grad_trained[cell], "-", color=COLOURS[cell], lw=2,
                    label=f"{NAMES[cell]}, trained: {reach[cell]:.0e}")  # fmt: skip
        ax.semilogy(steps, grad_initial[cell], "--", color=COLOURS[cell], lw=1, alpha=0.7,
                    label=f"{NAMES[cell]}, at initialisation: {reach_initial[cell]:.0e}")  # fmt: skip
    ax.axvline(large + 1, color="gray", ls=":", lw=1)
    ax.axvspan(0, mid, color="gray", alpha=0.07, lw=0)
    ax.set(
        title=f"(b) gradient of the recall loss w.r.t. h_t, gap {large}",
        xlabel=f"t (0: the letter; {large + 1}: SEP, where it is recalled)",
        ylabel="||d loss / d h_t|| (mean over test sequences)",
    )
    ax.legend(fontsize=7, loc="lower right", title=f"over the shaded half: ||dL/dh_0|| / ||dL/dh_{mid}||",
              title_fontsize=7)  # fmt: skip
    figure = save_figure(fig, ctx.out_dir, "abl-memory")

    # -- claims ----------------------------------------------------------------------------------
    claims = [
        Claim(
            f"at the smallest gap ({small}) every cell recalls the letter",
            f"recall accuracy >= {RECALLED} for rnn, lstm and gru",
            {c: mean[(c, small)] for c in CELLS},
            all(mean[(c, small)] >= RECALLED for c in CELLS),
        ),
        Claim(
            f"at the largest gap ({large}) the LSTM and the GRU still recall it, far above chance",
            f"recall accuracy >= {RECALLED} for lstm and gru (chance {chance:.3f})",
            {c: mean[(c, large)] for c in ("lstm", "gru")},
            all(mean[(c, large)] >= RECALLED for c in ("lstm", "gru")),
        ),
        Claim(
            f"at the largest gap ({large}) the plain RNN recalls it at about chance",
            f"rnn recall accuracy <= chance + {NEAR_CHANCE} = {chance + NEAR_CHANCE:.3f}",
            mean[("rnn", large)],
            mean[("rnn", large)] <= chance + NEAR_CHANCE,
        ),
        Claim(
            f"vanishing gradient: in the trained plain RNN (gap {large}) the recall loss's gradient decays "
            "geometrically going back to the letter; in the trained LSTM and GRU it does not",
            f"||dL/dh_0|| / ||dL/dh_{mid}||: rnn < {VANISHED}; lstm and gru > {KEPT}",
            reach,
            reach["rnn"] < VANISHED and all(reach[c] > KEPT for c in ("lstm", "gru")),
        ),
    ]
    values = {
        "gaps": gaps,
        "chance": chance,
        "recall_accuracy": {c: {f"{g}": mean[(c, g)] for g in gaps} for c in CELLS},
        "recall_accuracy_per_seed": {c: {f"{g}": recall[(c, g)] for g in gaps} for c in CELLS},
        "gradient_midpoint": mid,
        "gradient_reach_trained": reach,
        "gradient_reach_initial": reach_initial,
        "gradient_factor_per_step_trained": per_step,
        "gradient_norms_trained": {c: g.tolist() for c, g in grad_trained.items()},
        "gradient_norms_initial": {c: g.tolist() for c, g in grad_initial.items()},
        "book_cells_vs_torch_max_logit_difference": max(differences),
        "statuses": {f"{c}-{g}": statuses[(c, g)] for c, g in sorted(statuses)},
        "seeds": settings["seeds"],
    }
    runs = [str(d) for pairs in directories.values() for _, d in pairs]
    return RecipeOutput(figure, claims, values=values, runs=runs)


RECIPE = Recipe(
    id="abl-memory",
    title="Plain RNN against LSTM and GRU on a long-range memory task, and the vanishing gradient",
    book_ref="Sections 7.2-7.3 (RNN, LSTM, GRU)",
    chapter=7,
    claim="as the gap grows the plain RNN fails first (its gradient vanishes); LSTM and GRU still remember",
    run=run,
    minutes_quick=1.5,
)
