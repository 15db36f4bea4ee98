"""transformer-attention: attention maps of trained transformers on the reverse task (book section 7.5).

Runs experiment transformer_reverse: the encoder-decoder transformer (TransformerSeq2Seq) and the
decoder-only causal transformer language model (TransformerLanguageModel), both trained to reverse strings
(`source SEP target EOS`), and reads every head of every layer back on the test split. To reverse
x_1..x_n, target token j (counted from 0) is x_{n-j}, source position n - 1 - j: the encoder-decoder's
cross-attention should put its mass on that position (the anti-diagonal of the target x source map);
the causal model's self-attention weights above the diagonal must be exactly zero, and its target
positions may read the source only behind them (the same anti-diagonal, in the lower-left block).
"""

from collections.abc import Callable

import matplotlib
import numpy as np
import torch

from mde_exp.data.sequences import SEP_ID
from mde_exp.figures.style import save_figure, subplots
from mde_exp.models.seq2seq import split_framed
from mde_exp.models.transformer import TransformerLanguageModel, TransformerSeq2Seq
from mde_exp.nn.attention import keep_attention
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import load_datamodule, load_model

# Per profile: overrides of both runs, and what the claims require.
SETTINGS = {
    "tiny": {
        "overrides": [
            "trainer.max_epochs=4",
            "data.train_size=2000",
            "data.max_len=6",
            "data.val_size=100",
            "data.eval_train_size=100",
            "data.test_size=200",
        ],
        "min_exact": 0.5,
        "min_peak": 0.75,
    },
    "quick": {"overrides": ["trainer.max_epochs=8"], "min_exact": 0.9, "min_peak": 0.9},
    "full": {
        "overrides": [
            "trainer.max_epochs=30",
            "data.max_len=12",
            "data.alphabet_size=16",
            "data.train_size=40000",
            "model.d_model=128",
            "model.num_heads=8",
            "model.d_ff=512",
        ],
        "min_exact": 0.95,
        "min_peak": 0.9,
    },
}
# Head-averaged attention mass on the aligned source position in the best layer (SETTINGS' min_peak: the
# fraction of target tokens whose head-averaged cross-attention peaks there).
MIN_ALIGNED = 0.5


def _aligned(weights: torch.Tensor, lengths: torch.Tensor, query_at: Callable[[int, int], int]) -> np.ndarray:
    """Mass on the aligned source position per head (H), and for the head average (last entry):
    the mean over the test strings and their target tokens j = 0..n-1 of weights[query_at(n, j), n-1-j]."""
    per_head = weights.shape[1]
    rows, queries, keys = [], [], []
    for i, n in enumerate(lengths.tolist()):
        for j in range(n):
            rows.append(i)
            queries.append(query_at(n, j))
            keys.append(n - 1 - j)
    picked = weights[rows, :, queries, keys]  # tokens x H
    mean = weights.mean(dim=1)[rows, queries, keys]
    out = np.empty(per_head + 1)
    out[:per_head] = picked.mean(dim=0).numpy()
    out[per_head] = float(mean.mean())
    return out


def _argmax_hits(weights: torch.Tensor, lengths: torch.Tensor, query_at: Callable[[int, int], int]) -> float:
    """Fraction of target tokens whose head-averaged attention peaks at the aligned source position."""
    mean = weights.mean(dim=1)
    hits = [
        int(mean[i, query_at(n, j)].argmax()) == n - 1 - j
        for i, n in enumerate(lengths.tolist())
        for j in range(n)
    ]
    return float(np.mean(hits))


def _lm_exact(
    model: TransformerLanguageModel, inputs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor
) -> float:
    """Greedy generation from `source SEP`: the fraction of test strings whose target and EOS come out
    exactly."""
    lengths = (inputs == SEP_ID).int().argmax(dim=1)
    right = torch.zeros(len(inputs), dtype=torch.bool)
    for n in lengths.unique().tolist():
        rows = (lengths == n).nonzero()[:, 0]
        generated = model.generate(inputs[rows, : n + 1], n + 1)[:, n + 1 :]
        right[rows] = (generated == targets[rows, n : 2 * n + 1]).all(dim=1)
        assert bool(mask[rows, n : 2 * n + 1].all())
    return float(right.float().mean())


def _draw_maps(axes, maps: torch.Tensor, rows: list[str], cols: list[str], titles: list[str], cmap: str):
    """One heat map per axis, weights in [0, 1]; weights that are exactly zero are drawn grey."""
    colours = matplotlib.colormaps[cmap].with_extremes(bad="0.8")
    image = None
    for ax, weights, title in zip(axes, maps, titles, strict=True):
        values = weights.numpy()
        image = ax.imshow(np.ma.masked_where(values == 0, values), cmap=colours, vmin=0, vmax=1,
                          interpolation="nearest")  # fmt: skip
        ax.set_xticks(range(len(cols)), cols, fontsize=7)
        ax.set_yticks(range(len(rows)), rows, fontsize=7)
        ax.set_title(title, fontsize=8)
        ax.grid(False)
    return image


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    results = {}
    for job, result in ctx.sweep(["+experiment=transformer_reverse", *settings["overrides"]]):
        kind = "seq2seq" if "model=transformer_seq2seq" in job else "lm"
        results[kind] = result
    seq2seq: TransformerSeq2Seq = load_model(results["seq2seq"].dir)
    lm: TransformerLanguageModel = load_model(results["lm"].dir)
    datamodule = load_datamodule(results["seq2seq"].dir)
    vocabulary = datamodule.vocabulary
    inputs, targets, mask = datamodule.splits["test"]

    # the encoder-decoder's cross-attention, teacher forced on the test split
    split = split_framed(inputs, targets, mask)
    with torch.no_grad(), keep_attention(seq2seq) as modules:
        seq2seq.teacher_forced(split.source, split.source_mask, split.decoder_inputs)
        cross = {name: m.weights for name, m in modules.items() if name.endswith("cross_attention")}
    lengths = split.lengths
    cross_aligned = {name: _aligned(w, lengths, lambda n, j: j) for name, w in cross.items()}
    cross_hits = {name: _argmax_hits(w, lengths, lambda n, j: j) for name, w in cross.items()}
    chance = float(np.mean([1.0 / n for n in lengths.tolist() for _ in range(n)]))

    # the causal language model's self-attention over the whole framed sequence
    with torch.no_grad(), keep_attention(lm) as modules:
        lm(inputs)
        causal = {name: m.weights for name, m in modules.items()}
    above = max(float(w.triu(1).abs().max()) for w in causal.values())
    row_sum_error = max(float((w.sum(-1) - 1).abs().max()) for w in causal.values())
    lm_aligned = {name: _aligned(w, lengths, lambda n, j: n + j) for name, w in causal.items()}
    lm_exact = _lm_exact(lm, inputs, targets, mask)
    seq2seq_exact = float(results["seq2seq"].metrics.get("test/exact", np.nan))

    # the figure: one test string of the longest length; rows are layers, columns heads (then their mean)
    example = int((lengths == lengths.max()).nonzero()[0, 0])
    n = int(lengths[example])
    source_chars = list(vocabulary.decode(inputs[example, :n]))
    output_chars = [*vocabulary.decode(targets[example, n : 2 * n]), "<eos>"]
    framed = [vocabulary.tokens[i] for i in inputs[example, : 2 * n + 1].tolist()]
    framed = [{"<sep>": "SEP", "<eos>": "EOS"}.get(c, c) for c in framed]
    heads = seq2seq.hparams.num_heads
    layers = len(cross) + len(causal)
    fig, grid = subplots(layers, heads + 1, figsize=(2.3 * (heads + 1), 2.45 * layers))
    for r, (name, weights) in enumerate(cross.items()):
        maps = torch.cat(
            [weights[example, :, : n + 1, :n], weights[example, :, : n + 1, :n].mean(0, keepdim=True)]
        )
        titles = [f"head {h + 1}: {cross_aligned[name][h]:.2f}" for h in range(heads)]
        titles.append(f"mean: {cross_aligned[name][-1]:.2f}")
        image = _draw_maps(grid[r], maps, output_chars, source_chars, titles, "Blues")
        fig.colorbar(image, ax=list(grid[r]), shrink=0.85, pad=0.01, label="weight")
        grid[r, 0].set_ylabel(f"enc-dec: cross-attention\nlayer {r + 1}\noutput token", fontsize=8)
        for ax in grid[r]:
            ax.set_xlabel("source token", fontsize=7)
    for r, (name, weights) in enumerate(causal.items(), start=len(cross)):
        width = 2 * n + 1
        maps = torch.cat(
            [weights[example, :, :width, :width], weights[example, :, :width, :width].mean(0, keepdim=True)]
        )
        titles = [f"head {h + 1}: {lm_aligned[name][h]:.2f}" for h in range(heads)]
        titles.append(f"mean: {lm_aligned[name][-1]:.2f}")
        image = _draw_maps(grid[r], maps, framed, framed, titles, "Oranges")
        fig.colorbar(image, ax=list(grid[r]), shrink=0.85, pad=0.01, label="weight")
        grid[r, 0].set_ylabel(
            f"causal LM: self-attention\nlayer {r - len(cross) + 1}\nquery position", fontsize=8
        )
        for ax in grid[r]:
            ax.set_xticks(range(width), framed, fontsize=6, rotation=90)
            ax.set_yticks(range(width), framed, fontsize=6)
            ax.set_xlabel("key position", fontsize=7)
    values_example = "".join(source_chars)
    fig.suptitle(
        f"Attention maps on the reverse task for the test string '{values_example}'; grey: weight exactly 0."
        f"\nPanel titles: mass on the aligned (mirrored) source position, mean over the test split (chance "
        f"{chance:.2f}). Blue: encoder-decoder cross-attention,\noutput token j reads source token n-1-j. "
        f"Orange: causal LM self-attention, nothing above the diagonal (largest weight there: {above:g}).",
        fontsize=9,
    )
    figure = save_figure(fig, ctx.out_dir, "transformer-attention")

    best_layer = max(cross_aligned, key=lambda k: cross_aligned[k][-1])
    best_aligned, best_hits = float(cross_aligned[best_layer][-1]), cross_hits[best_layer]
    lm_best_layer = max(lm_aligned, key=lambda k: lm_aligned[k][-1])
    lm_best = float(lm_aligned[lm_best_layer][-1])
    claims = [
        Claim(
            "the encoder-decoder transformer reverses the test strings (greedy decoding, exact match)",
            f"test exact match >= {settings['min_exact']}",
            seq2seq_exact,
            seq2seq_exact >= settings["min_exact"],
        ),
        Claim(
            "its cross-attention is the anti-diagonal: output token j attends to source position n-1-j "
            "(head-averaged mass there, and where the peak falls, in the best decoder layer)",
            f"aligned mass >= {MIN_ALIGNED} (chance {chance:.2f}), peak there >= {settings['min_peak']:.0%}",
            {"aligned_mass": best_aligned, "peak_on_aligned": best_hits, "layer": best_layer},
            best_aligned >= MIN_ALIGNED and best_hits >= settings["min_peak"],
        ),
        Claim(
            "the causal language model never attends ahead: every weight above the diagonal is zero, and "
            "each row is a probability vector",
            "max weight above the diagonal == 0 exactly; max |row sum - 1| < 1e-5",
            {"max_above_diagonal": above, "row_sum_error": row_sum_error},
            above == 0.0 and row_sum_error < 1e-5,
        ),
        Claim(
            "the causal model's target positions read the mirrored source token too: position n+j attends to "
            "source position n-1-j (head-averaged mass there, best layer)",
            f"aligned mass >= {MIN_ALIGNED} (chance {chance:.2f})",
            {"aligned_mass": lm_best, "layer": lm_best_layer},
            lm_best >= MIN_ALIGNED,
        ),
        Claim(
            "the causal language model reverses the test strings too (greedy generation after SEP)",
            f"test exact match >= {settings['min_exact']}",
            lm_exact,
            lm_exact >= settings["min_exact"],
        ),
    ]
    values = {
        "seq2seq_test_exact": seq2seq_exact,
        "lm_test_exact": lm_exact,
        "chance_aligned_mass": chance,
        "cross_attention_aligned_mass": {k: v.tolist() for k, v in cross_aligned.items()},
        "cross_attention_peak_on_aligned": cross_hits,
        "lm_attention_aligned_mass": {k: v.tolist() for k, v in lm_aligned.items()},
        "lm_max_weight_above_diagonal": above,
        "lm_test_token_acc": float(results["lm"].metrics.get("test/acc", np.nan)),
        "seq2seq_test_token_acc": float(results["seq2seq"].metrics.get("test/acc", np.nan)),
        "parameters": {k: int(r.summary.get("parameters", 0)) for k, r in results.items()},
        "example": "".join(source_chars),
    }
    return RecipeOutput(figure, claims, values=values, runs=[str(r.dir) for r in results.values()])


RECIPE = Recipe(
    id="transformer-attention",
    title="Attention maps of transformers trained to reverse strings",
    book_ref="Section 7.5 (transformers)",
    chapter=7,
    claim="the encoder-decoder's cross-attention aligns each output token with its mirrored source token; "
    "the causal model's weights above the diagonal are exactly zero",
    run=run,
    minutes_quick=1.0,
)
