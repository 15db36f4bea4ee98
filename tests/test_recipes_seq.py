"""attention-weights and char-lm at the smallest scale: their runs, claims, values and figures."""

from mde_exp.recipes import load_recipes

from .conftest import reproduce_at_smallest_scale

IDS = ["attention-weights", "char-lm"]


def test_recipes_are_chapter_7():
    recipes = load_recipes()
    for rid in IDS:
        assert recipes[rid].chapter == 7
    assert recipes["attention-weights"].book_ref.startswith("Section 7.4")


def test_attention_and_char_lm_at_the_smallest_scale(tmp_path, one_thread):
    records = reproduce_at_smallest_scale(tmp_path, IDS)

    attention = records["attention-weights"]["values"]
    assert set(attention["exact_by_length"]) == {"none", "dot"}  # the tiny profile's two models
    stats = attention["alignment"]["dot"]
    assert stats["aligned_mass"] > 2 * stats["chance"] and 0 < stats["chance"] < 1
    longest = attention["longest_lengths"]
    assert longest == [6, 7, 8]
    by_length = attention["exact_by_length"]
    assert by_length["dot"]["8"] > by_length["none"]["8"]
    for example in attention["examples"]["dot"]:
        assert len(example["output"]) <= 8 and set(example["output"]) <= set("abcdefgh")
    assert len(records["attention-weights"]["runs"]) == 2

    lm = records["char-lm"]["values"]
    assert set(lm["val_bits_best"]) == {"RNN", "LSTM", "transformer"}
    unigram = lm["unigram"]
    assert 3.5 < unigram["entropy"] < 5.0 and unigram["val_cross_entropy"] >= unigram["entropy"] - 0.1
    for name, samples in lm["samples"].items():
        for kind in ("greedy", "sampled"):
            assert samples[kind].startswith(lm["prompt"]), (name, kind)
            assert len(samples[kind]) > len(lm["prompt"]) + 30
    assert (tmp_path / "figures" / "char-lm-samples.txt").read_text().count("==") == 12
    assert len(lm["val_bits_per_epoch"]["LSTM"]) == 2
