"""abl-memory at the smallest scale: its sweep, claims, values and figure."""

import math

from mde_exp.recipes import load_recipes
from mde_exp.store import compose

from .conftest import reproduce_at_smallest_scale

RID = "abl-memory"


def test_memory_sweep_trains_the_three_cells_alike():
    cfg = compose(["+experiment=memory_sweep", "model.cell=rnn", "data.gap=50"])
    assert cfg.model._target_ == "mde_exp.models.rnn.RecurrentLanguageModel"
    assert cfg.model.implementation == "torch" and cfg.model.hidden_size == 64
    assert cfg.data._target_.endswith("SequenceTaskDataModule") and cfg.data.task == "memory"
    assert cfg.data.max_len == 1 and cfg.data.alphabet_size == 8 and not cfg.data.noise
    assert cfg.optimizer._target_ == "torch.optim.Adam" and cfg.optimizer.lr == 0.01
    recipe = load_recipes()[RID]
    assert recipe.chapter == 7 and recipe.book_ref.startswith("Sections 7.2-7.3")


def test_abl_memory_at_the_smallest_scale(tmp_path, one_thread):
    record = reproduce_at_smallest_scale(tmp_path, [RID])[RID]
    assert all(claim["book_value"] is None for claim in record["claims"])
    values = record["values"]
    small, large = f"{values['gaps'][0]}", f"{values['gaps'][-1]}"
    chance = values["chance"]
    assert math.isclose(chance, 1 / 8)
    recall = values["recall_accuracy"]
    # every cell remembers across the short gap; across the long one only the gated cells do
    assert min(recall[c][small] for c in ("rnn", "lstm", "gru")) >= 0.9
    assert min(recall["lstm"][large], recall["gru"][large]) >= 0.9 > recall["rnn"][large] + 0.5
    # the plain RNN's recall gradient vanishes geometrically going back to the letter: a factor per
    # step well below 1 (theirs near 1), and at initialisation already (the GRU's too, before training)
    factor = values["gradient_factor_per_step_trained"]
    assert factor["rnn"] < 0.8 and min(factor["lstm"], factor["gru"]) > 0.9
    reach, initial = values["gradient_reach_trained"], values["gradient_reach_initial"]
    assert reach["rnn"] < 1e-3 < 0.1 < min(reach["lstm"], reach["gru"])
    assert initial["rnn"] < 1e-3 and initial["lstm"] > 0.1  # the LSTM starts with its forget gates open
    norms = values["gradient_norms_trained"]["rnn"]
    assert len(norms) == int(large) + 2 and norms[0] < norms[values["gradient_midpoint"]] < norms[-1]
    # the gradients were taken through the book's cells with the trained torch weights copied in
    assert values["book_cells_vs_torch_max_logit_difference"] < 1e-8
    assert len(record["runs"]) == 6
