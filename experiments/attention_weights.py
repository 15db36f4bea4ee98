"""attention-weights: an encoder-decoder's attention on string reversal, and what attention buys (book
section 7.4, fig-7.11).

Runs experiment attention_weights: the recurrent encoder-decoder (model=seq2seq, a bidirectional GRU
encoder, a GRU decoder) reverses strings of 1..max_len letters (data=reverse_task), without attention
(the decoder sees the source only through the encoder's final state), with additive attention
(Bahdanau et al.) and with dot-product attention (Luong et al.). Each trained model is loaded back and
decodes the test strings greedily. The figure draws, as the book's fig-7.11 does, the attention
weights alpha_{t,i} of a few test strings (source letters across, output letters down): reversal
aligns output t with source position n - 1 - t, an anti-diagonal; and exact-match accuracy (the whole
reversed string and its EOS) against source length, with and without attention.

The claims: attention follows the alignment (the aligned source position has the largest weight for
most output letters, and the dot model puts most of its weight there, where chance is 1/n), and
attention beats the fixed-size encoding of the classic encoder-decoder at the longest strings.
Bahdanau's additive weights come out softer than Luong's dot weights (they peak at the aligned
position but spread some weight to its neighbours), so the mean-weight claim is the dot model's.
"""

import torch
from omegaconf import OmegaConf

from mde_exp.data.sequences import EOS_ID
from mde_exp.figures.style import save_figure, subplots
from mde_exp.models.seq2seq import exact_matches, split_framed
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import load_datamodule, load_model

# Per profile: overrides of every run, and the attention kinds trained.
SETTINGS = {
    "tiny": {
        "overrides": ["trainer.max_epochs=4", "data.max_len=8", "data.train_size=2000"],
        "kinds": ["none", "dot"],
    },
    "quick": {"overrides": ["trainer.max_epochs=10"], "kinds": ["none", "additive", "dot"]},
    "full": {
        "overrides": ["trainer.max_epochs=30", "data.max_len=20", "data.train_size=20000"],
        "kinds": ["none", "additive", "dot"],
    },
}
LONGEST = 3  # "the longest lengths": the 3 longest source lengths
ARGMAX_SHARE = 0.7  # the aligned position has the largest weight for more than this share (chance ~1/n)
MASS = 0.5  # the dot model's mean weight on the aligned position is above this
GAIN = 0.3  # attention's exact match at the longest lengths exceeds no attention's by more than this
NAMES = {"none": "no attention", "additive": "additive (Bahdanau)", "dot": "dot (Luong)"}
COLOURS = {"none": "tab:gray", "additive": "tab:blue", "dot": "tab:orange"}


def aligned_positions(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """N x steps: the source position that output t copies when reversing a source of length n
    (n - 1 - t; negative from the EOS on)."""
    return lengths[:, None] - 1 - torch.arange(steps, device=lengths.device)


def alignment_stats(weights: torch.Tensor, lengths: torch.Tensor) -> dict[str, float]:
    """Of attention weights (N x L x S) over sources of `lengths`, at the output letters (EOS left out):
    the mean weight on the aligned position, the share of letters whose largest weight is there, and
    chance (the mean of 1/n, uniform weights)."""
    aligned = aligned_positions(lengths, weights.shape[1])
    letters = aligned >= 0
    on_aligned = weights.gather(2, aligned.clamp(min=0)[:, :, None]).squeeze(-1)
    hits = weights.argmax(dim=-1) == aligned
    chance = (1.0 / lengths[:, None].expand_as(aligned).float())[letters]
    return {
        "aligned_mass": float(on_aligned[letters].mean()),
        "argmax_share": float(hits[letters].float().mean()),
        "chance": float(chance.mean()),
    }


def _attention(job: list[str]) -> str:
    return next(o.split("=", 1)[1] for o in job if o.startswith("model.attention="))


def _examples(lengths: torch.Tensor, max_len: int) -> list[int]:
    """Three test strings to draw: the first of length max_len, about 3/4 and about 1/2 of it."""
    chosen = []
    for want in (max_len, max(1, round(0.75 * max_len)), max(1, round(0.5 * max_len))):
        candidates = torch.nonzero(lengths == want).flatten().tolist()
        chosen.append(candidates[0] if candidates else int(torch.argmax(lengths)))
    return chosen


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    jobs = ctx.sweep(
        ["+experiment=attention_weights", f"model.attention={','.join(settings['kinds'])}",
         *settings["overrides"]]
    )  # fmt: skip
    results = {_attention(job): result for job, result in jobs}
    kinds = [k for k in ("none", "additive", "dot") if k in results]
    attending = [k for k in kinds if k != "none"]

    datamodule = load_datamodule(results[kinds[0]].dir)
    vocabulary = datamodule.vocabulary
    split = split_framed(*(t.cpu() for t in datamodule.splits["test"]))
    steps = split.decoder_targets.shape[1]
    all_lengths = sorted(set(split.lengths.tolist()))
    max_len = int(OmegaConf.load(results[kinds[0]].dir / "config.yaml").data.max_len)

    exact_by_length: dict[str, dict[str, float]] = {}
    stats: dict[str, dict[str, float]] = {}
    decoded: dict[str, tuple[torch.Tensor, torch.Tensor | None]] = {}
    for kind in kinds:
        model = load_model(results[kind].dir)
        generated = model.greedy_decode(split.source, split.source_mask, steps)
        decoded[kind] = (generated, model.last_attention)
        exact = exact_matches(generated, split.decoder_targets, split.decoder_mask)
        exact_by_length[kind] = {f"{n}": float(exact[split.lengths == n].float().mean()) for n in all_lengths}
        if kind != "none":
            with torch.no_grad():  # teacher forced: the weights at the true previous letters
                model.teacher_forced(split.source, split.source_mask, split.decoder_inputs)
            stats[kind] = alignment_stats(model.last_attention, split.lengths)
            stats[kind]["test_exact"] = float(exact.float().mean())
    longest = all_lengths[-LONGEST:]

    def at_longest(kind: str) -> float:
        rows = torch.isin(split.lengths, torch.tensor(longest))
        return float(
            exact_matches(decoded[kind][0], split.decoder_targets, split.decoder_mask)[rows].float().mean()
        )

    longest_exact = {kind: at_longest(kind) for kind in kinds}

    # -- figure: attention matrices (one row per attending model) and exact match against length --
    examples = _examples(split.lengths, max_len)
    fig = subplots(figsize=(4.0 * len(examples) + 5.5, 3.9 * len(attending) + 0.4))[0]
    fig.clf()
    grid = fig.add_gridspec(len(attending), len(examples) + 2, width_ratios=[1] * len(examples) + [0.06, 1.5])
    panel = iter("abcdefghij")
    image = None
    for row, kind in enumerate(attending):
        generated, weights = decoded[kind]
        for col, i in enumerate(examples):
            ax = fig.add_subplot(grid[row, col])
            n = int(split.lengths[i])
            out = generated[i].tolist()
            shown = out.index(EOS_ID) + 1 if EOS_ID in out else len(out)  # up to and including EOS
            image = ax.imshow(weights[i, :shown, :n].numpy(), cmap="Greys", vmin=0, vmax=1, aspect="auto")
            ax.set_xticks(range(n), list(vocabulary.decode(split.source[i, :n])))
            ax.set_yticks(range(shown), [vocabulary.tokens[t] for t in out[:shown]])
            ax.xaxis.tick_top()
            ax.grid(False)
            ax.set_xlabel(f"source (n = {n})")
            if col == 0:
                ax.set_ylabel(f"{NAMES[kind]}\noutput (greedy)")
            ax.set_title(f"({next(panel)}) {NAMES[kind]}", fontsize=9, pad=18)
    colorbar_ax = fig.add_subplot(grid[:, len(examples)])
    fig.colorbar(image, cax=colorbar_ax, label="attention weight")
    ax = fig.add_subplot(grid[:, len(examples) + 1])
    for kind in kinds:
        label = (
            NAMES[kind]
            if kind == "none"
            else f"{NAMES[kind]}; aligned weight {stats[kind]['aligned_mass']:.2f}"
        )
        ax.plot(all_lengths, [exact_by_length[kind][f"{n}"] for n in all_lengths], marker="o", ms=4,
                color=COLOURS[kind], label=label)  # fmt: skip
    ax.axvspan(longest[0] - 0.5, longest[-1] + 0.5, color="tab:red", alpha=0.08, label="longest lengths")
    ax.set(title=f"({next(panel)}) exact match against length (test)", xlabel="source length n",
           ylabel="exact-match accuracy (greedy decoding)", ylim=(-0.03, 1.03),
           xticks=all_lengths)  # fmt: skip
    ax.legend(loc="lower left", fontsize=8)
    chance = stats[attending[0]]["chance"]
    fig.suptitle(
        f"Reversing strings: attention weights alpha(t, i) lie on the anti-diagonal (chance weight 1/n, "
        f"mean {chance:.2f})",
        fontsize=11,
    )
    figure = save_figure(fig, ctx.out_dir, "attention-weights")

    claims = [
        Claim(
            "attention follows the reversal: the aligned source position n - 1 - t has the largest weight",
            f"share of output letters whose largest weight is on the aligned position > {ARGMAX_SHARE}, "
            "for each attending model",
            {kind: stats[kind]["argmax_share"] for kind in attending},
            all(stats[kind]["argmax_share"] > ARGMAX_SHARE for kind in attending),
        ),
        Claim(
            "dot-product attention puts most of its weight on the aligned source position",
            f"mean weight on the aligned position > {MASS} (chance: mean 1/n = {chance:.3f})",
            stats["dot"]["aligned_mass"],
            stats["dot"]["aligned_mass"] > MASS,
        ),
        Claim(
            "attention beats the classic encoder-decoder on the longest strings "
            f"(n = {longest[0]}..{longest[-1]})",
            f"exact match with attention > without + {GAIN}, for each attending model",
            longest_exact,
            all(longest_exact[kind] > longest_exact["none"] + GAIN for kind in attending),
        ),
    ]
    values = {
        "alignment": stats,
        "exact_by_length": exact_by_length,
        "exact_at_longest": longest_exact,
        "longest_lengths": longest,
        "examples": {
            kind: [
                {
                    "source": vocabulary.decode(split.source[i, : int(split.lengths[i])]),
                    "output": vocabulary.decode(decoded[kind][0][i], skip_special=True),
                }
                for i in examples
            ]
            for kind in kinds
        },
    }
    return RecipeOutput(figure, claims, values=values, runs=[str(r.dir) for r in results.values()])


RECIPE = Recipe(
    id="attention-weights",
    title="Encoder-decoder attention on string reversal: weights and exact match against length",
    book_ref="Section 7.4 (attention; fig-7.11)",
    chapter=7,
    claim="attention weights follow the reversal's anti-diagonal, and attention beats the classic "
    "encoder-decoder on long strings",
    run=run,
    minutes_quick=1.0,
)
