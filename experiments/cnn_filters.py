"""cnn-filters: the convolution operation of book section 6.2, checked and seen in a trained CNN.

(a) The book's output size of a convolution, floor((n + 2p - d(k - 1) - 1) / s) + 1, against the size of
torch's conv2d output for every combination of a grid of input sizes, kernels, strides, paddings and
dilations; where the kernel does not fit the formula gives less than 1 and torch refuses. (b) Which
inputs each output of a 1-D convolution reads, for padding, stride and dilation. (c) The course's
ConvNet (conv 5x5x8 - maxpool - conv 3x3x16 - maxpool - dense) trained on digits: its first layer's
eight 5x5 filters before and after training, and one test digit's feature maps after the first
convolution (checked against the book's definition, a cross-correlation plus a bias) and after ReLU
and 2x2 max pooling.
"""

from pathlib import Path

import lightning as L
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from matplotlib.patches import Rectangle
from omegaconf import OmegaConf

from mde_exp.figures.style import STYLE, save_figure
from mde_exp.nn.conv import conv_output_size
from mde_exp.nn.conv_check import cross_correlation, output_size_grid
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.run import _build_model
from mde_exp.store import load_datamodule, load_model

# The ConvNet's run (no experiment config: an experiment is a sweep, this is one run), then per profile
# its overrides and the test accuracy it must exceed.
TRAIN = [
    "model=convnet",
    "data=mnist_5k",
    "book_section='6.2'",
    "figure_id=cnn-filters",
    "optimizer.lr=0.003",
]
SETTINGS = {
    "tiny": {
        "overrides": ["trainer.max_epochs=5", "data.train_size=1500", "data.val_size=500"],
        "min_test_acc": 0.8,
    },
    "quick": {"overrides": ["trainer.max_epochs=15"], "min_test_acc": 0.95},
    "full": {"overrides": ["data=mnist", "trainer.max_epochs=10"], "min_test_acc": 0.98},
}
MIN_FILTER_CHANGE = 0.2  # ||W - W0|| / ||W0|| of the first layer's filters after training
TOLERANCE = 1e-4  # float32 conv2d against the float64 loop of the book's definition
# The 1-D illustration: an input of length 7, a kernel of 3, and (padding, stride, dilation).
LENGTH, KERNEL = 7, 3
SETTINGS_1D = ((0, 1, 1), (1, 1, 1), (0, 2, 1), (0, 1, 2))


def initial_model(run_dir: Path) -> torch.nn.Module:
    """The stored run's model as it was before training: built as the run built it (same seed, data
    and configuration), so its weights are the run's initial ones."""
    cfg = OmegaConf.load(Path(run_dir) / "config.yaml")
    L.seed_everything(int(cfg.seed), verbose=False)
    return _build_model(cfg, instantiate(cfg.data)).eval()


def receptive_fields(length: int, kernel: int, padding: int, stride: int, dilation: int) -> np.ndarray:
    """outputs x padded inputs: 1 where an output of F.conv1d reads that input (found by feeding torch
    each unit impulse of the padded input through an all-ones kernel)."""
    padded = length + 2 * padding
    impulses = torch.eye(padded).unsqueeze(1)  # padded inputs, one channel each
    out = F.conv1d(impulses, torch.ones(1, 1, kernel), stride=stride, dilation=dilation)
    return out[:, 0, :].T.numpy()


def _draw_grid_summary(ax, grid) -> None:
    fits = grid[grid.fits]
    for stride, colour in zip((1, 2, 3), ("tab:blue", "tab:orange", "tab:green"), strict=True):
        part = fits[fits.stride == stride]
        ax.scatter(part.formula, part.torch, s=14, color=colour, alpha=0.5, label=f"stride {stride}")
    refused = grid[~grid.fits]
    ax.scatter(refused.formula, np.zeros(len(refused)), marker="x", s=20, color="tab:red",
               label="kernel does not fit:\nformula < 1, torch raises")  # fmt: skip
    top = int(grid.formula.max()) + 1
    ax.plot([1, top], [1, top], "k-", lw=0.6, label="torch = formula")
    ax.axvline(0.5, color="tab:red", lw=0.6, ls=":")
    same = grid[(grid.padding == "same") & (grid.stride == 1)]

    def listed(column: str) -> str:
        return ", ".join(str(v) for v in dict.fromkeys(grid[column].tolist()))

    text = (
        f"{int(grid.agree.sum())} / {len(grid)} combinations agree\n"
        f"sizes n = {grid['size'].min()}..{grid['size'].max()}, kernels k = {listed('kernel')},\n"
        f"strides s = {listed('stride')}, paddings p = {listed('padding')},\n"
        f"dilations d = {listed('dilation')}\n"
        f"kernel fits: {len(fits)}; does not: {len(refused)}\n"
        f"'same', stride 1: torch keeps the size in {int(same.same_ok.sum())} / {len(same)}"
    )
    ax.text(0.03, 0.97, text, transform=ax.transAxes, va="top", fontsize=7.5,
            bbox={"facecolor": "white", "alpha": 0.85, "lw": 0.4})  # fmt: skip
    ax.set(
        title="(a) output size: the book's formula\nagainst torch's conv2d",
        xlabel="formula  floor((n + 2p - d(k-1) - 1) / s) + 1",
        ylabel="torch conv2d output size (0: raised)",
    )
    ax.legend(loc="lower right", fontsize=7)


def _draw_receptive_fields(axes) -> None:
    most_padding = max(p for p, _, _ in SETTINGS_1D)
    for ax, (padding, stride, dilation) in zip(axes, SETTINGS_1D, strict=True):
        fields = receptive_fields(LENGTH, KERNEL, padding, stride, dilation)
        shown = fields.copy()
        shown[:, :padding] *= 0.45  # padding columns lighter
        if padding:
            shown[:, -padding:] *= 0.45
        ax.imshow(shown, cmap="Greys", vmin=0, vmax=1, aspect="equal")
        n_out = conv_output_size(LENGTH, KERNEL, stride, padding, dilation)
        for edge in range(padding) if padding else ():
            for col in (edge, LENGTH + 2 * padding - 1 - edge):
                ax.add_patch(
                    Rectangle((col - 0.5, -0.5), 1, len(fields), fill=False, hatch="//", ec="tab:red", lw=0)
                )
        ax.set_xticks(range(LENGTH + 2 * padding), [("0" if padding else "") for _ in range(padding)]
                      + [f"x{i + 1}" for i in range(LENGTH)] + ["0"] * padding, fontsize=6)  # fmt: skip
        ax.set_yticks(range(len(fields)), [f"y{i + 1}" for i in range(len(fields))], fontsize=6)
        ax.set_xticks(np.arange(-0.5, LENGTH + 2 * padding), minor=True)
        ax.set_yticks(np.arange(-0.5, len(fields)), minor=True)
        ax.grid(which="minor", color="w", lw=0.8)
        ax.grid(which="major", visible=False)
        ax.tick_params(which="minor", length=0)
        ax.set_title(f"p={padding}, s={stride}, d={dilation}: {n_out} outputs", fontsize=8)
        # every panel as wide as the most padded input, its inputs x1..xn aligned with the others
        extra = most_padding - padding
        ax.set_xlim(-0.5 - extra, LENGTH + 2 * padding - 0.5 + extra)
        ax.set_ylim(len(fields) - 0.5, -0.5)
        ax.spines[:].set_visible(False)
    axes[0].set_xlabel(f"input (n={LENGTH}, k={KERNEL})", fontsize=8)


def _image_row(axes, images: np.ndarray, cmap: str, symmetric: bool, label: str) -> None:
    vmax = float(np.abs(images).max()) if symmetric else float(images.max())
    vmin = -vmax if symmetric else 0.0
    for c, (ax, image) in enumerate(zip(axes, images, strict=True)):
        ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        if c == 0:
            ax.set_ylabel(label, fontsize=8)
    axes[0].figure.colorbar(axes[-1].images[0], ax=list(axes), shrink=0.8, pad=0.01, aspect=12)


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    grid = output_size_grid()

    result = ctx.train([*TRAIN, *settings["overrides"]])
    model = load_model(result.dir)
    start = initial_model(result.dir)
    datamodule = load_datamodule(result.dir)
    x_test, y_test = datamodule.splits["test"]
    index = 0
    digit = x_test[index : index + 1]
    trained = model.first_layer.weight.detach()
    initial = start.first_layer.weight.detach()
    change = float((trained - initial).norm() / initial.norm())
    with torch.no_grad():
        images = model.images(digit)
        conv_maps = model.first_layer(images)[0].numpy()  # before the activation
        pooled_maps = model.features[0](images)[0].numpy()  # after ReLU and 2x2 max pooling
    image = images[0, 0].numpy().astype(np.float64)
    kernels = trained[:, 0].numpy().astype(np.float64)
    bias = model.first_layer.bias.detach().numpy().astype(np.float64)
    # the book's definition: y_c[i, j] = b_c + sum_{u,v} x[i+u, j+v] w_c[u, v] (see conv_check)
    by_hand = cross_correlation(image, kernels, bias)
    conv_error = float(np.abs(by_hand - conv_maps).max())
    channels, height, width = by_hand.shape
    pooled_by_hand = np.maximum(by_hand, 0).reshape(channels, height // 2, 2, width // 2, 2).max(axis=(2, 4))
    pool_error = float(np.abs(pooled_by_hand - pooled_maps).max())
    test_acc = float(result.metrics["test/acc"])

    plt.rcParams.update(STYLE)
    fig = plt.figure(figsize=(15, 10.5), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.25])
    grid_part, fields_part = top.subfigures(1, 2, width_ratios=[1, 1.5])
    _draw_grid_summary(grid_part.subplots(), grid)
    _draw_receptive_fields(fields_part.subplots(2, 2).ravel())
    fields_part.suptitle(
        "(b) which inputs x each output y of a 1-D convolution reads (torch's conv1d; hatched: padding)",
        fontsize=10,
    )
    left, right = bottom.subfigures(1, 2, width_ratios=[1, 5])
    digit_ax = left.subplots()
    digit_ax.imshow(image, cmap="gray_r")
    digit_ax.set(title=f"test digit (label {int(y_test[index])})", xticks=[], yticks=[])
    digit_ax.grid(False)
    digit_ax.spines[:].set_visible(False)
    rows = right.subplots(4, 8)
    _image_row(rows[0], initial[:, 0].numpy(), "RdBu_r", True, "filters at\ninitialisation")
    _image_row(rows[1], kernels, "RdBu_r", True, "trained\nfilters")
    _image_row(rows[2], conv_maps, "RdBu_r", True, "conv output\n(24 x 24)")
    _image_row(rows[3], pooled_maps, "magma", False, "ReLU, max pool\n(12 x 12)")
    for c, ax in enumerate(rows[0]):
        ax.set_title(f"filter {c + 1}", fontsize=8)
    right.suptitle(
        f"(c) the trained ConvNet's first layer (8 filters 5x5; test accuracy {test_acc:.3f}, "
        f"{ctx.profile} profile): filters and the digit's feature maps",
        fontsize=10,
    )
    figure = save_figure(fig, ctx.out_dir, "cnn-filters")

    same = grid[(grid.padding == "same") & (grid.stride == 1)]
    claims = [
        Claim(
            "the book's output-size formula equals torch's conv2d output size on every combination of the "
            "grid, and says < 1 exactly where torch refuses (the kernel does not fit)",
            f"formula = torch for all {len(grid)} combinations",
            {
                "combinations": len(grid),
                "agree": int(grid.agree.sum()),
                "kernel_fits": int(grid.fits.sum()),
                "refused_by_both": int((~grid.fits & grid.agree).sum()),
                "same_padding_keeps_size": f"{int(same.same_ok.sum())}/{len(same)}",
            },
            bool(grid.agree.all() and grid.same_ok.all()),
        ),
        Claim(
            "the first convolutional layer computes the book's convolution: the cross-correlation of the "
            "digit with each filter, plus the filter's bias",
            f"max |conv2d - loop of the definition| < {TOLERANCE}",
            conv_error,
            conv_error < TOLERANCE,
        ),
        Claim(
            "after ReLU and 2x2 max pooling, each feature map holds the largest rectified value of each "
            "2x2 block",
            f"max |pooled - max over 2x2 blocks of max(0, y)| < {TOLERANCE}",
            pool_error,
            pool_error < TOLERANCE,
        ),
        Claim(
            "training shapes the filters: the first layer's filters move away from their initialisation",
            f"||W - W0|| / ||W0|| > {MIN_FILTER_CHANGE}",
            change,
            change > MIN_FILTER_CHANGE,
        ),
        Claim(
            "the course's ConvNet classifies the held-out digits well",
            f"test accuracy > {settings['min_test_acc']}",
            test_acc,
            test_acc > settings["min_test_acc"],
        ),
    ]
    values = {
        "grid": {
            "combinations": len(grid),
            "agree": int(grid.agree.sum()),
            "kernel_fits": int(grid.fits.sum()),
            "same_ok": int(same.same_ok.sum()),
        },
        "conv_error": conv_error,
        "pool_error": pool_error,
        "filter_change": change,
        "test_acc": test_acc,
        "filter_shape": list(trained.shape),
        "feature_map_shapes": [list(conv_maps.shape), list(pooled_maps.shape)],
    }
    return RecipeOutput(figure, claims, values=values, runs=[str(result.dir)])


RECIPE = Recipe(
    id="cnn-filters",
    title="The convolution operation: output sizes, filters and feature maps of a trained CNN",
    book_ref="Section 6.2 (the convolution operation)",
    chapter=6,
    claim="the output-size formula equals torch's for every setting; the first layer computes the book's "
    "cross-correlation; trained filters move away from their initialisation",
    run=run,
    minutes_quick=0.1,
)
