"""fig-2.15: SVD compression of a greyscale photograph (book section 2.6). Direct computation (NumPy's
SVD), nothing trained.

As the companion source Julia/SVD_compression.ipynb: the best rank-q approximation
A_q = sum_{i <= q} sigma_i u_i v_i^T of a grey image A for q = 5..100, its relative error
||A - A_q||_F / ||A||_F, the approximations at q = 10, 30, 50 beside the original, and what A_q costs to
store, q (1 + m + n) numbers against m n. The book's photograph (353 x 469) is not distributed; the image
here is scikit-learn's embedded sample "china.jpg" in grey (427 x 640, data=photo grayscale=true).
"""

import numpy as np

from mde_exp.data.photos import sample_photo
from mde_exp.figures.panels import image_panel
from mde_exp.figures.style import save_figure, subplots
from mde_exp.low_rank import eckart_young_relative_error, rank_q_approximation, relative_error, storage_ratio
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput

PHOTO = "china"
SHOWN = (10, 30, 50)
BOOK_SIZE = (353, 469)  # the book's image, for its storage ratio at rank 50 (0.2486 in the Julia source)
TOLERANCE = 1e-10
# Per profile: the ranks drawn (5..100, every one or every fifth); the SVD of the image itself takes 0.1 s.
SETTINGS = {
    "tiny": {"ranks": range(5, 101, 5)},
    "quick": {"ranks": range(5, 101)},
    "full": {"ranks": range(5, 101)},
}


def run(ctx: RecipeContext) -> RecipeOutput:
    ranks = np.array(SETTINGS[ctx.profile]["ranks"])
    index = {q: i for i, q in enumerate(ranks)}
    a = sample_photo(PHOTO, grayscale=True)
    m, n = a.shape
    u, sigma, vt = np.linalg.svd(a, full_matrices=False)
    approximations = {q: rank_q_approximation(u, sigma, vt, q) for q in ranks}
    error = np.array([relative_error(a, approximations[q]) for q in ranks])
    predicted = np.array([eckart_young_relative_error(sigma, q) for q in ranks])
    spectral = max(abs(np.linalg.norm(a - approximations[q], 2) - sigma[q]) / sigma[0] for q in SHOWN)
    ratio = {q: storage_ratio(m, n, q) for q in ranks}

    fig, axes = subplots(2, 3, figsize=(16, 7.6), gridspec_kw={"width_ratios": [1.35, 1, 1]})
    gs = axes[0, 0].get_gridspec()
    for ax in axes[:, 0]:
        ax.remove()
    ax = fig.add_subplot(gs[:, 0])
    ax.plot(ranks, error, "o", ms=3.5, color="k", label=r"$\|A - A_q\|_F \,/\, \|A\|_F$ (computed)")
    ax.plot(ranks, predicted, "-", color="tab:orange", lw=1.5,
            label=r"$\sqrt{\sum_{i>q} \sigma_i^2} / \sqrt{\sum_i \sigma_i^2}$ (Eckart–Young)")  # fmt: skip
    for q in SHOWN:
        ax.annotate(f"q = {q}", (q, error[index[q]]), xytext=(q + 6, error[index[q]] + 0.02),
                    arrowprops={"arrowstyle": "->"})  # fmt: skip
    ax.set(
        title=f"(a) relative approximation error, {m} × {n} grey image",
        xlabel="rank of approximation q",
        ylabel="relative approximation error",
        xticks=list(range(10, 101, 10)),
        ylim=(0, None),
    )
    storage = ax.twinx()
    (line,) = storage.plot(ranks, [ratio[q] for q in ranks], "--", color="tab:blue", lw=1.2,
                           label="storage ratio q (1 + m + n) / (m n), right axis")  # fmt: skip
    handles, names = ax.get_legend_handles_labels()
    ax.legend([*handles, line], [*names, line.get_label()], loc="upper right")
    storage.set_ylabel("storage ratio q (1 + m + n) / (m n)", color="tab:blue")
    storage.tick_params(axis="y", colors="tab:blue")
    storage.set_ylim(0, None)
    storage.grid(False)
    panels = [(axes[0, 1], a, f"(b) original image ({m} × {n})")]
    panels += [
        (
            ax_q,
            approximations[q],
            f"({letter}) rank q = {q}: error {error[index[q]]:.3f}, storage {ratio[q]:.1%}",
        )
        for ax_q, q, letter in zip((axes[0, 2], axes[1, 1], axes[1, 2]), SHOWN, "cde", strict=True)
    ]
    for ax_image, image, title in panels:
        image_panel(ax_image, image, title, grey=True)
    figure = save_figure(fig, ctx.out_dir, "fig-2.15")

    gap = float(np.abs(error - predicted).max())
    book_ratio = storage_ratio(*BOOK_SIZE, 50)
    claims = [
        Claim(
            "the relative error falls with the rank (q = 5..100"
            + (")" if ranks[1] - ranks[0] == 1 else f", every {ranks[1] - ranks[0]}th)"),
            "error(q + 1) < error(q)",
            {str(q): float(error[index[q]]) for q in (5, *SHOWN, 100)},
            bool(np.all(np.diff(error) < 0)),
        ),
        Claim(
            "Eckart–Young: the error of the truncated SVD is set by the discarded singular values",
            f"max_q |‖A − A_q‖_F/‖A‖_F − √(Σ_(i>q) σ_i²)/‖A‖_F| < {TOLERANCE:g}; "
            f"|‖A − A_q‖_2 − σ_(q+1)| / σ_1 < {TOLERANCE:g} at q = 10, 30, 50",
            {"frobenius_gap": gap, "spectral_gap": float(spectral)},
            gap < TOLERANCE and spectral < TOLERANCE,
        ),
        Claim(
            "a rank-q approximation stores q (1 + m + n) numbers: at rank 50 about a quarter of the book's "
            f"{BOOK_SIZE[0]} × {BOOK_SIZE[1]} image, a fifth of this one",
            "storage ratio at q = 50 (book image: 50 (1 + 353 + 469) / (353 · 469) = 0.2486)",
            {"book_image": book_ratio, "this_image": ratio[50]},
            abs(book_ratio - 0.24855) < 1e-4 and ratio[50] < 0.25,
            book_value=0.2486,
        ),
    ]
    return RecipeOutput(
        figure,
        claims,
        values={
            "shape": [m, n],
            "relative_error": {str(q): float(e) for q, e in zip(ranks.tolist(), error, strict=True)},
            "storage_ratio": {str(q): ratio[q] for q in (5, *SHOWN, 100)},
            "singular_values_top10": sigma[:10].tolist(),
        },
    )


RECIPE = Recipe(
    id="fig-2.15",
    title="SVD compression of a greyscale photograph: relative error against rank, ranks 10, 30, 50",
    book_ref="Figure 2.15, section 2.6",
    chapter=2,
    claim="truncating the SVD gives the best rank-q approximation, whose error is set by the discarded "
    "singular values; a few dozen ranks keep the picture at a fraction of the storage",
    run=run,
    minutes_quick=0.04,
)
