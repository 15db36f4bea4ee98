"""char-lm: character-level language models compared: a plain RNN, an LSTM and a transformer (book sections
7.2, 7.3 and 7.5).

Runs experiment char_lm: next-character prediction on the embedded corpus (data=char_corpus, about
27 KB of English prose cut into train, validation and test text; windows of 64 characters), by a
one-layer tanh RNN and a one-layer LSTM of 128 units (model=rnn_lm, model.cell=rnn / lstm) and a
two-block decoder-only transformer (model=transformer_lm), all trained alike (Adam, lr 0.003, batch 64,
no dropout). The figure draws validation loss in bits per character (the cross-entropy in nats over
ln 2) against training steps, with the training split's curve (scored in eval mode) dashed, and the
unigram baseline: the cross-entropy of the validation characters under the training text's character
frequencies (add-one smoothed), which any model that reads context should beat. Each trained model is
loaded back and continues a prompt, greedily and by sampling (temperature 0.8, seeded); the samples are
a text panel of the figure, in the recipe's values, and in char-lm-samples.txt.

On this small corpus the models overfit once trained long enough, so each is compared at its best
validation epoch (early stopping). The plain RNN learns fastest at first and overfits soonest; the LSTM
learns more slowly and reaches the lower validation loss in the quick profile (the margin is a few
hundredths of a bit per character). The tiny profile trains too briefly for that comparison (the RNN
is still ahead), so its claim is made in the quick and full profiles only.
"""

import math
import textwrap

import numpy as np
import pandas as pd
import torch
from omegaconf import OmegaConf

from mde_exp.data.sequences import SPECIAL_TOKENS
from mde_exp.figures.style import save_figure, subplots
from mde_exp.recipes import Claim, Recipe, RecipeContext, RecipeOutput
from mde_exp.store import load_datamodule, load_model, read_epoch_metrics

# Per profile: overrides of every run, each model's own overrides, and whether the LSTM-vs-RNN claim
# is made (the tiny profile is too short for it).
SETTINGS = {
    "tiny": {
        "overrides": ["trainer.max_epochs=2"],
        "models": {
            "RNN": ["model.cell=rnn"],
            "LSTM": ["model.cell=lstm"],
            "transformer": ["model=transformer_lm", "model.num_layers=1", "model.d_ff=64"],
        },
        "lstm_claim": False,
        "sample_chars": 60,
    },
    "quick": {
        "overrides": ["trainer.max_epochs=12"],
        "models": {
            "RNN": ["model.cell=rnn"],
            "LSTM": ["model.cell=lstm"],
            "transformer": ["model=transformer_lm"],
        },
        "lstm_claim": True,
        "sample_chars": 160,
    },
    "full": {
        "overrides": ["trainer.max_epochs=40", "data.batch_size=32"],
        "models": {
            "RNN": ["model.cell=rnn", "model.hidden_size=256"],
            "LSTM": ["model.cell=lstm", "model.hidden_size=256"],
            "transformer": ["model=transformer_lm", "model.d_model=128", "model.num_layers=4", "dropout=0.1"],
        },
        "lstm_claim": True,
        "sample_chars": 300,
    },
}
PROMPT = "The machine "
TEMPERATURE = 0.8
COLOURS = {"RNN": "tab:gray", "LSTM": "tab:blue", "transformer": "tab:orange"}
BITS = 1.0 / math.log(2.0)  # nats -> bits


def unigram_baseline(train_targets: torch.Tensor, val_targets: torch.Tensor, vocab_size: int) -> dict:
    """Bits per character of the unigram model (the training characters' frequencies, add-one smoothed
    over the non-special tokens): its entropy, and its cross-entropy on the validation characters."""
    counts = torch.bincount(train_targets, minlength=vocab_size).double()
    counts[len(SPECIAL_TOKENS) :] += 1.0
    p = counts / counts.sum()
    entropy = -(p[p > 0] * torch.log2(p[p > 0])).sum()
    cross = -torch.log2(p[val_targets]).mean()
    return {"entropy": float(entropy), "val_cross_entropy": float(cross)}


def _samples(model, vocabulary, chars: int) -> dict[str, str]:
    prompt = torch.tensor(vocabulary.encode(PROMPT))
    generator = torch.Generator().manual_seed(0)
    greedy = model.generate(prompt, chars)
    sampled = model.generate(prompt, chars, temperature=TEMPERATURE, generator=generator)
    return {
        "greedy": vocabulary.decode(greedy, skip_special=True),
        "sampled": vocabulary.decode(sampled, skip_special=True),
    }


def run(ctx: RecipeContext) -> RecipeOutput:
    settings = SETTINGS[ctx.profile]
    results = {
        name: ctx.train(["+experiment=char_lm", *settings["overrides"], *own])
        for name, own in settings["models"].items()
    }
    names = list(results)
    datamodule = load_datamodule(results[names[0]].dir)
    vocabulary = datamodule.vocabulary
    (_, train_t, train_m), (_, val_t, val_m) = (
        tuple(t.cpu() for t in datamodule.splits[s]) for s in ("train", "val")
    )
    unigram = unigram_baseline(train_t[train_m], val_t[val_m], len(vocabulary))

    curves: dict[str, pd.DataFrame] = {}
    steps_per_epoch: dict[str, float] = {}
    final, best, best_epoch, test_bits, params, samples = {}, {}, {}, {}, {}, {}
    for name, result in results.items():
        frame = read_epoch_metrics(result.dir)
        curves[name] = frame
        steps_per_epoch[name] = result.summary["global_step"] / max(1, result.summary["epochs"])
        val_bits = frame["val/loss"].to_numpy() * BITS
        final[name] = float(val_bits[-1])
        best[name] = float(val_bits.min())
        best_epoch[name] = int(frame.index[int(np.argmin(val_bits))]) + 1
        test_bits[name] = float(result.metrics.get("test/loss", np.nan)) * BITS
        params[name] = int(result.summary.get("parameters", 0))
        samples[name] = _samples(load_model(result.dir), vocabulary, settings["sample_chars"])

    # -- figure: validation bits per character against steps, and the samples --------------------
    fig, axes = subplots(1, 2, figsize=(14, 6.2), width_ratios=[1, 1])
    ax = axes[0]
    for name in names:
        frame = curves[name]
        steps = (frame.index.to_numpy() + 1) * steps_per_epoch[name]
        val_bits = frame["val/loss"].to_numpy() * BITS
        label = f"{name}: validation (best {best[name]:.2f}, epoch {best_epoch[name]}: star)"
        ax.plot(steps, val_bits, marker="o", ms=3, color=COLOURS[name], label=label)
        at = int(np.argmin(val_bits))
        ax.plot(steps[at], val_bits[at], "*", ms=13, color=COLOURS[name], mec="black", mew=0.6)
        ax.plot(steps, frame["train_eval/loss"] * BITS, "--", lw=1, color=COLOURS[name], alpha=0.7,
                label=f"{name}: training split")  # fmt: skip
    ax.axhline(unigram["val_cross_entropy"], color="black", ls=":", lw=1.5,
               label=f"unigram baseline on validation ({unigram['val_cross_entropy']:.2f})")  # fmt: skip
    ax.set(title="(a) character-level language models: validation loss", xlabel="training step",
           ylabel="bits per character")  # fmt: skip
    ax.legend(fontsize=8)
    text_ax = axes[1]
    text_ax.axis("off")
    text_ax.set_title(f'(b) continuations of the prompt "{PROMPT}" (greedy; sampled at T = {TEMPERATURE})')
    lines = []
    for name in names:
        for kind in ("greedy", "sampled"):
            body = samples[name][kind].replace("\n", " / ")
            wrapped = textwrap.wrap(body, 76)[:3]
            lines.append(f"{name}, {kind}:")
            lines.extend(f"  {line}" for line in wrapped)
        lines.append("")
    text_ax.text(0.0, 0.98, "\n".join(lines), family="monospace", fontsize=8.5, va="top", ha="left",
                 transform=text_ax.transAxes)  # fmt: skip
    figure = save_figure(fig, ctx.out_dir, "char-lm")
    with open(ctx.out_dir / "char-lm-samples.txt", "w", encoding="utf-8") as handle:
        for name in names:
            for kind in ("greedy", "sampled"):
                handle.write(f"== {name}, {kind} ==\n{samples[name][kind]}\n\n")

    claims = [
        Claim(
            "every model beats the unigram baseline on validation bits per character",
            f"best validation bits/char < unigram cross-entropy ({unigram['val_cross_entropy']:.3f})",
            best,
            all(best[name] < unigram["val_cross_entropy"] for name in names),
        ),
    ]
    if settings["lstm_claim"]:
        claims.append(
            Claim(
                "the LSTM reaches a lower validation loss than the plain RNN (each at its best epoch)",
                "best validation bits/char: LSTM < RNN",
                {"LSTM": best["LSTM"], "RNN": best["RNN"]},
                best["LSTM"] < best["RNN"],
            )
        )
    values = {
        "val_bits_best": best,
        "val_bits_best_epoch": best_epoch,
        "val_bits_final": final,
        "test_bits": test_bits,
        "unigram": unigram,
        "parameters": params,
        "val_bits_per_epoch": {name: (curves[name]["val/loss"] * BITS).round(4).tolist() for name in names},
        "samples": samples,
        "prompt": PROMPT,
        "temperature": TEMPERATURE,
        "config": {name: OmegaConf.to_container(OmegaConf.load(results[name].dir / "config.yaml").model)
                   for name in names},
    }  # fmt: skip
    return RecipeOutput(figure, claims, values=values, runs=[str(r.dir) for r in results.values()])


RECIPE = Recipe(
    id="char-lm",
    title="Character-level language models: plain RNN, LSTM and transformer",
    book_ref="Sections 7.2, 7.3, 7.5 (RNN, LSTM, transformer)",
    chapter=7,
    claim="every model beats the unigram baseline on validation bits/char; the LSTM beats the plain RNN",
    run=run,
    minutes_quick=1.5,
)
