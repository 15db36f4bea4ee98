"""fig-2.4: ROC curves of logistic regression on WDBC, one feature against all 30 (book section 2.2).

Runs experiment roc_wdbc: LogisticRegression (malignant = 1, as in the book) trained by full-batch Adam on
the 80% training split with smoothness_worst alone and with all 30 features (standardised on the training
split). Each trained model is loaded back from its run's checkpoint; its probabilities of malignancy on
the 20% test split give the ROC curve (scikit-learn's roc_curve) and the area under it, drawn with the
chance line and the perfect classifier's curve as the book does.
"""

from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score, roc_curve

from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import load_datamodule, load_model

# The two models of the figure: their label and the data.features override of the experiment's sweep.
MODELS = {"smoothness_worst only": "[smoothness_worst]", "all 30 features": "null"}
COLOURS = {"smoothness_worst only": "#8b7500", "all 30 features": "darkorange"}  # the book's gold4, orange
# Per profile: overrides of every run (WDBC is embedded and small: every profile trains the book's model).
SETTINGS = {
    "tiny": {"overrides": ["trainer.max_epochs=150", "trainer.check_val_every_n_epoch=150"]},
    "quick": {"overrides": []},
    "full": {"overrides": []},
}


def _probabilities(run_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """P(malignant) of each example of `split` under the run's trained model, and the labels."""
    datamodule = load_datamodule(run_dir)
    x, y = datamodule.splits[split]
    with torch.no_grad():
        p = load_model(run_dir).probability(x.cpu())
    return p.double().numpy(), y.cpu().numpy()


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    results = {}
    for job, result in ctx.sweep(["+experiment=roc_wdbc", *settings["overrides"]]):
        features = next(o.split("=", 1)[1] for o in job if o.startswith("data.features="))
        label = next(k for k, v in MODELS.items() if v == features)
        results[label] = result
    curves, auc, train_auc = {}, {}, {}
    for label in MODELS:
        p, y = _probabilities(results[label].dir, "test")
        fpr, tpr, _ = roc_curve(y, p)
        curves[label] = (fpr, tpr)
        auc[label] = float(roc_auc_score(y, p))
        n_test, n_malignant = len(y), int(y.sum())
        train_auc[label] = float(roc_auc_score(*reversed(_probabilities(results[label].dir, "train"))))

    fig, ax = subplots(figsize=(5.6, 5.2))
    ax.plot([0, 0, 1], [0, 1, 1], color="darkgreen", lw=2, label="perfect classifier (AUC = 1)")
    for label, (fpr, tpr) in curves.items():
        ax.plot(fpr, tpr, color=COLOURS[label], lw=2, label=f"{label} (AUC = {auc[label]:.3f})")
    ax.plot([0, 1], [0, 1], color="tab:red", lw=1.5, ls="--", label="chance line (AUC = 0.5)")
    ax.set(
        xlabel="false positive rate (1 - specificity)",
        ylabel="true positive rate (sensitivity)",
        title=f"Logistic regression on WDBC: ROC on the test split\n({n_test} tumours, {n_malignant} "
        "malignant; positive = malignant)",
        xlim=(-0.02, 1.02),
        ylim=(-0.02, 1.02),
        aspect="equal",
    )
    ax.legend(loc="lower right")
    figure = save_figure(fig, ctx.out_dir, "fig-2.4")

    one, every = auc["smoothness_worst only"], auc["all 30 features"]
    claims = [
        Claim(
            "all 30 features separate malignant from benign tumours better than smoothness_worst alone",
            "AUC(all 30) > AUC(smoothness_worst)",
            {"all 30": every, "smoothness_worst": one},
            every > one,
        ),
        Claim("the full model is close to a perfect classifier", "AUC(all 30) > 0.95", every, every > 0.95),
        Claim(
            "smoothness_worst alone carries information: well above the chance line",
            "AUC(smoothness_worst) > 0.6",
            one,
            one > 0.6,
        ),
    ]
    return RecipeOutput(
        figure,
        claims,
        values={
            "auc": auc,
            "train_auc": train_auc,
            "test_acc": {label: r.metrics["test/acc"] for label, r in results.items()},
            "n_test": n_test,
            "n_test_malignant": n_malignant,
        },
        runs=[str(r.dir) for r in results.values()],
    )


RECIPE = Recipe(
    id="fig-2.4",
    title="ROC curves on WDBC: logistic regression on one feature against all 30",
    book_ref="Figure 2.4, section 2.2",
    chapter=2,
    claim="the model on all 30 features has a far larger area under the ROC curve (close to 1) than the "
    "model on smoothness_worst alone, which is still well above the chance line",
    run=run,
    minutes_quick=0.07,
)
