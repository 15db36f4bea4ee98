"""fig-2.14: principal component analysis of the Wisconsin breast cancer data (book section 2.6). Direct
computation (scikit-learn's PCA), nothing trained.

As the companion source R/Breast_Cancer_PCA.R (FactoMineR's PCA, which standardises): the 569 tumours'
30 features standardised (data=wdbc's table), projected on the first two principal components; (a)
without labels, (b) coloured by diagnosis. A component's sign is arbitrary: PC1 is oriented here so
that malignant tumours score positive on average. The R source hides the few tumours with pc1 >= 7 or
pc2 >= 10 from its plot; every tumour is drawn here.
"""

import numpy as np
from hydra.utils import instantiate
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput

BOOK_EXPLAINED = (0.443, 0.190)  # the well-known shares of variance of PC1 and PC2 for this data set
TOLERANCE = 0.005
SCREE = 10  # components in the explained-variance panel


def run(ctx: RecipeContext) -> RecipeOutput:
    datamodule = instantiate(ctx.compose(["data=wdbc"]).data)
    features, label = datamodule.table()  # label 1 = benign, 0 = malignant (scikit-learn's coding)
    malignant = label == 0
    z = StandardScaler().fit_transform(features)
    pca = PCA().fit(z)
    scores = pca.transform(z)
    sign = 1.0 if scores[malignant, 0].mean() > 0 else -1.0
    scores[:, 0] *= sign
    loadings = pca.components_[0] * sign
    explained = pca.explained_variance_ratio_

    fig, axes = subplots(1, 3, figsize=(16, 5.0), gridspec_kw={"width_ratios": [1, 1, 0.9]})
    for ax, coloured, letter in ((axes[0], False, "a"), (axes[1], True, "b")):
        if coloured:
            for mask, name, colour in (
                (~malignant, "benign", "tab:cyan"),
                (malignant, "malignant", "tab:red"),
            ):
                ax.scatter(*scores[mask, :2].T, s=12, alpha=0.7, color=colour, label=f"{name} ({mask.sum()})")
            ax.legend(loc="upper right", title="diagnosis")
        else:
            ax.scatter(*scores[:, :2].T, s=12, alpha=0.7, color="k", label="tumours (569)")
            ax.legend(loc="upper right")
        ax.axhline(0, color="k", ls="--", lw=0.8)
        ax.axvline(0, color="k", ls="--", lw=0.8)
        ax.set(
            title=f"({letter}) first two principal components" + (", by diagnosis" if coloured else ""),
            xlabel=f"pc₁ ({explained[0]:.1%} of the variance)",
            ylabel=f"pc₂ ({explained[1]:.1%} of the variance)",
            aspect="equal",
        )
    ax = axes[2]
    k = np.arange(1, SCREE + 1)
    ax.bar(k, explained[:SCREE], color="tab:gray", alpha=0.7, label="share of variance")
    ax.plot(k, np.cumsum(explained[:SCREE]), "o-", color="k", label="cumulative share")
    ax.plot(
        [1, 2], BOOK_EXPLAINED, "x", color="tab:red", ms=10, mew=2, label="book / literature: 44.3%, 19.0%"
    )
    ax.set(
        title="(c) variance explained by each component",
        xlabel="principal component",
        ylabel="share of the total variance (30 standardised features)",
        xticks=list(k),
        ylim=(0, 1.02),
    )
    ax.legend(loc="center right")
    figure = save_figure(fig, ctx.out_dir, "fig-2.14")

    auc = [float(roc_auc_score(malignant, scores[:, i])) for i in (0, 1)]
    separation = [max(a, 1 - a) for a in auc]  # a component's sign is arbitrary
    thresholds = np.sort(scores[:, 0])
    accuracy = float(max(np.mean((scores[:, 0] > t) == malignant) for t in thresholds))
    claims = [
        Claim(
            "the first two components explain about 63% of the variance of the 30 standardised features",
            f"PC1 and PC2 shares within ±{TOLERANCE} of 44.3% and 19.0%",
            {"pc1": float(explained[0]), "pc2": float(explained[1]), "both": float(explained[:2].sum())},
            all(abs(explained[i] - BOOK_EXPLAINED[i]) < TOLERANCE for i in (0, 1)),
            book_value={"pc1": BOOK_EXPLAINED[0], "pc2": BOOK_EXPLAINED[1]},
        ),
        Claim(
            "without seeing the labels, PC1 separates malignant from benign tumours; PC2 much less so",
            "AUC of the PC1 score > 0.95 and a threshold on PC1 alone > 90% accurate; "
            "separation(PC1) - separation(PC2) > 0.2 (separation = max(AUC, 1 - AUC))",
            {"auc_pc1": auc[0], "auc_pc2": auc[1], "threshold_accuracy_pc1": accuracy},
            auc[0] > 0.95 and accuracy > 0.9 and separation[0] - separation[1] > 0.2,
        ),
        Claim(
            "PC1 is an overall 'size' direction: all 30 loadings have the same sign",
            "sign(loading) equal for every feature",
            {"min_loading": float(loadings.min()), "max_loading": float(loadings.max())},
            bool(np.all(loadings > 0) or np.all(loadings < 0)),
        ),
    ]
    return RecipeOutput(
        figure,
        claims,
        values={
            "explained_variance_ratio": explained[:SCREE].tolist(),
            "auc": auc,
            "threshold_accuracy_pc1": accuracy,
            "pc1_loadings": dict(zip(datamodule.feature_names(), loadings.tolist(), strict=True)),
        },
    )


RECIPE = Recipe(
    id="fig-2.14",
    title="PCA of the Wisconsin breast cancer data: the first two components, unlabelled and by diagnosis",
    book_ref="Figure 2.14, section 2.6",
    chapter=2,
    claim="two principal components keep about 63% of the variance of 30 features, and the diagnoses, "
    "never shown to PCA, separate along the first",
    run=run,
    minutes_quick=0.02,
)
