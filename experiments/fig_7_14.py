"""fig-7.14: the sinusoidal positional embedding (book section 7.5), M = 10^4, p = 768, T = 4000.

Panel (a) is the book's heat map of the first 60 time steps x 200 dimensions; (b) the difference between
the embeddings of t = 51 and t = 50 over all 768 dimensions, with the exact envelope 2 sin(omega_k / 2) of
each (sin, cos) pair; (c) the dot product of positions t and t + k against the offset k for several t (the
curves coincide). The claims are the mathematics of the embedding, checked on the table that the
transformers use (mde_exp.nn.positional), in float64: the formula itself, unit-norm (sin, cos) pairs,
shifts that act as fixed rotations (so dot products depend only on the offset), the size of the step
from t to t + 1 in each pair, and T distinct positions. The same at every profile (no training).
"""

import math

import numpy as np
import torch

from mde_exp.figures.style import save_figure, subplots
from mde_exp.nn.positional import SinusoidalPositionalEmbedding, frequencies, sinusoidal_embedding
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput

M, P, T = 10_000, 768, 4000
SHOWN_STEPS, SHOWN_DIMS = 60, 200  # the book's heat map
T_A, T_B = 50, 51  # the book's pair of neighbouring positions
OFFSETS = 400  # dot products p_t . p_{t+k} checked for k = 0..OFFSETS at every t
TOL = 1e-9


def _rotation_error(emb: torch.Tensor, omega: torch.Tensor, k: int) -> float:
    """max over t of |p_{t+k} - R(k) p_t|, R(k) rotating each (sin, cos) pair by the angle omega_j k."""
    s, c = emb[:, 0::2], emb[:, 1::2]
    ck, sk = torch.cos(omega * k), torch.sin(omega * k)
    # sin(a + b) = sin a cos b + cos a sin b; cos(a + b) = cos a cos b - sin a sin b
    rotated = torch.stack((s * ck + c * sk, c * ck - s * sk), dim=-1).flatten(-2)
    return float((emb[k:] - rotated[: len(emb) - k]).abs().max())


def run(ctx: RecipeContext) -> RecipeOutput:
    emb = sinusoidal_embedding(T, P, M, dtype=torch.float64)  # row t - 1 is p_t
    omega = frequencies(P, M)
    module_table = SinusoidalPositionalEmbedding(P, M, T).table  # what the transformers add (float32)

    # the formula, entry by entry, written out again with the math module on a sample of entries
    rng = np.random.default_rng(0)
    sample = [
        (int(t), int(i)) for t, i in zip(rng.integers(1, T + 1, 3000), rng.integers(0, P, 3000), strict=True)
    ]
    sample += [(1, 0), (1, 1), (T, P - 2), (T, P - 1)]
    formula = [
        (math.sin if i % 2 == 0 else math.cos)(t / M ** (2 * (i // 2) / P)) for t, i in sample
    ]  # fmt: skip
    formula_error = max(abs(float(emb[t - 1, i]) - f) for (t, i), f in zip(sample, formula, strict=True))
    float32_error = float((module_table.double() - emb).abs().max())

    pair_norm_error = float(((emb[:, 0::2] ** 2 + emb[:, 1::2] ** 2) - 1).abs().max())
    in_range = bool(emb.abs().max() <= 1.0)

    # p_t . p_{t+k} = sum_j cos(omega_j k) for every t: a function of the offset k only
    dots = torch.stack([(emb[: T - k] * emb[k:]).sum(1)[: T - OFFSETS] for k in range(OFFSETS + 1)], 1)
    closed = torch.cos(omega[None, :] * torch.arange(OFFSETS + 1, dtype=torch.float64)[:, None]).sum(1)
    dot_error = float((dots - closed[None, :]).abs().max())
    rotation_error = max(_rotation_error(emb, omega, k) for k in (1, 7, 50, 1000))

    diff = emb[T_B - 1] - emb[T_A - 1]
    pair_step = (diff[0::2] ** 2 + diff[1::2] ** 2).sqrt()
    chord = 2 * torch.sin(omega / 2)  # the chord of a rotation by omega_j on the unit circle
    step_error = float((pair_step - chord).abs().max())
    low, high = float(diff[:10].abs().max()), float(diff[SHOWN_DIMS:].abs().max())

    distances = torch.cdist(emb.float(), emb.float())
    distances.fill_diagonal_(float("inf"))
    min_distance = float(distances.min())
    del distances

    fig, (ax_a, ax_b, ax_c) = subplots(1, 3, figsize=(15, 4.6), width_ratios=[1.15, 1.2, 1.0])
    image = ax_a.imshow(
        emb[:SHOWN_STEPS, :SHOWN_DIMS].numpy(), aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1,
        origin="upper", interpolation="nearest", extent=(-0.5, SHOWN_DIMS - 0.5, SHOWN_STEPS + 0.5, 0.5),
    )  # fmt: skip
    fig.colorbar(image, ax=ax_a, shrink=0.85, label="embedding value")
    for t in (T_A - 0.5, T_B + 0.5):  # frame the rows that (b) subtracts
        ax_a.axhline(t, color="k", lw=1.0)
    ax_a.text(SHOWN_DIMS - 4, T_A - 2.5, f"rows t = {T_A}, {T_B}: panel (b)", ha="right", fontsize=8,
              bbox={"facecolor": "white", "alpha": 0.85, "lw": 0})  # fmt: skip
    ax_a.set(title=f"(a) first {SHOWN_STEPS} time steps x {SHOWN_DIMS} dimensions", xlabel="dimension i",
             ylabel="time step t")  # fmt: skip
    ax_a.grid(False)

    dims = np.arange(P)
    ax_b.plot(dims, diff.numpy(), lw=0.7, color="tab:blue", label=f"$p_{{{T_B}}} - p_{{{T_A}}}$")
    envelope = np.repeat(chord.numpy(), 2)
    ax_b.plot(dims, envelope, color="tab:red", lw=1, label=r"$\pm 2\sin(\omega_k/2)$: pair k's step")
    ax_b.plot(dims, -envelope, color="tab:red", lw=1)
    ax_b.axvline(SHOWN_DIMS, color="gray", ls="--", lw=0.8)
    note = f"beyond the {SHOWN_DIMS} dimensions of (a):\nmax |difference| = {high:.3f}"
    ax_b.text(SHOWN_DIMS + 8, 0.75, note, fontsize=8)
    ax_b.set(title=f"(b) difference between t = {T_B} and t = {T_A}", xlabel="dimension i",
             ylabel=f"$p_{{{T_B}}} - p_{{{T_A}}}$", xlim=(0, P), ylim=(-1.1, 1.1))  # fmt: skip
    ax_b.legend(loc="lower right")

    ks = np.arange(OFFSETS + 1)
    for t, width in zip((1, 100, 1000, T - OFFSETS), (5, 3.5, 2, 1), strict=True):
        ax_c.plot(ks, dots[t - 1].numpy(), lw=width, label=f"t = {t}")
    ax_c.plot(ks, closed.numpy(), "k:", lw=1.5, label=r"$\sum_k \cos(\omega_k \Delta)$")
    ax_c.set(title=r"(c) $p_t \cdot p_{t+\Delta}$ depends on the offset $\Delta$ only",
             xlabel=r"offset $\Delta$", ylabel="dot product")  # fmt: skip
    ax_c.legend(title=f"curves coincide (max gap {dot_error:.0e})", title_fontsize=8)
    fig.suptitle(f"Sinusoidal positional embedding, M = $10^4$, p = {P}, T = {T}")
    figure = save_figure(fig, ctx.out_dir, "fig-7.14")

    claims = [
        Claim(
            "the table is the book's formula: sin(t / M^(2k/p)) at dimension 2k, cos at 2k + 1 (3000 random"
            " entries, float64), and the float32 table the transformers add agrees",
            f"max |error| < {TOL:g} (float64), < 1e-6 (float32)",
            {"float64": formula_error, "float32": float32_error},
            formula_error < TOL and float32_error < 1e-6,
        ),
        Claim(
            "every entry lies in [-1, 1] and every (sin, cos) pair is a unit vector, so ||p_t||^2 = p/2",
            f"max | sin^2 + cos^2 - 1 | < {TOL:g}",
            pair_norm_error,
            in_range and pair_norm_error < TOL,
        ),
        Claim(
            "a shift by k positions is a fixed rotation: p_{t+k} = R(k) p_t for every t (k = 1, 7, 50, 1000)",
            f"max |p_(t+k) - R(k) p_t| < {TOL:g}",
            rotation_error,
            rotation_error < TOL,
        ),
        Claim(
            f"so p_t . p_(t+k) = sum_j cos(omega_j k) depends on the offset only (k <= {OFFSETS}, every t)",
            f"max |error| < {TOL:g}",
            dot_error,
            dot_error < TOL,
        ),
        Claim(
            f"from t = {T_A} to {T_B} each pair moves by the chord 2 sin(omega_k / 2): far in the low "
            f"dimensions, hardly at all beyond dimension {SHOWN_DIMS}",
            f"chord error < {TOL:g}; max |diff| > 0.5 in dims 0-9; < 0.1 beyond dim {SHOWN_DIMS}",
            {"chord_error": step_error, "max_diff_dims_0_9": low, f"max_diff_beyond_{SHOWN_DIMS}": high},
            step_error < TOL and low > 0.5 and high < 0.1,
        ),
        Claim(
            f"all T = {T} positions have distinct embeddings",
            "min distance between two positions > 1",
            min_distance,
            min_distance > 1.0,
        ),
    ]
    values = {
        "M": M,
        "p": P,
        "T": T,
        "formula_error": formula_error,
        "float32_error": float32_error,
        "pair_norm_error": pair_norm_error,
        "rotation_error": rotation_error,
        "dot_product_offset_error": dot_error,
        "step_chord_error": step_error,
        "max_diff_dims_0_9": low,
        f"max_diff_beyond_dim_{SHOWN_DIMS}": high,
        "min_distance_between_positions": min_distance,
        "period_range": [float(2 * math.pi / omega[0]), float(2 * math.pi / omega[-1])],
    }
    return RecipeOutput(figure, claims, values=values)


RECIPE = Recipe(
    id="fig-7.14",
    title="Sinusoidal positional embedding",
    book_ref="Figure 7.14, section 7.5",
    chapter=7,
    claim="each (sin, cos) pair rotates with t at its own frequency: shifts are rotations, dot products "
    "depend on the offset only, neighbouring positions differ in the low dimensions",
    run=run,
    minutes_quick=0.1,
)
