"""The README's worked examples ("Adding a model", "Adding a data set", "Adding a recipe") stay true: each
fenced block after a `<!-- docs-example: PATH -->` line is written to a temporary folder standing for PATH
(a module of mde_exp.models or mde_exp.data, a config under conf/, a recipe under experiments/), then
composed, trained for a tiny epoch, and the recipe run at the tiny profile."""

import re
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

import mde_exp.data
import mde_exp.models
from mde_exp import store
from mde_exp.errors import ConfigError
from mde_exp.recipes import RecipeContext, load_recipes
from mde_exp.run import execute

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = re.compile(r"<!-- docs-example: (?P<path>\S+) -->\n```\w*\n(?P<code>.*?)\n```", re.S)
PACKAGES = {"src/mde_exp/models/": mde_exp.models, "src/mde_exp/data/": mde_exp.data}


def readme_examples() -> dict[str, str]:
    """The README's example files by the path they would have in the repository."""
    return {m["path"]: m["code"] + "\n" for m in EXAMPLE.finditer((ROOT / "README.md").read_text())}


@pytest.fixture
def examples(tmp_path, monkeypatch):
    """The examples written to tmp_path as if they were in the repository: modules importable under
    their package's name, configs on Hydra's search path, recipes in their own folder. Returns the
    overrides every run of them needs."""
    for path, code in readme_examples().items():
        assert not (ROOT / path).exists(), f"{path}: the README's example now clashes with a real file"
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(code)
    for prefix, package in PACKAGES.items():
        monkeypatch.setattr(package, "__path__", [*package.__path__, str(tmp_path / prefix)])
        for name in [n for n in sys.modules if n.startswith(package.__name__ + ".")]:
            if any((tmp_path / prefix).glob(f"{name.rsplit('.', 1)[1]}.py")):
                monkeypatch.delitem(sys.modules, name)
    yield [
        f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
        "logger=none",
        f"store.root={tmp_path / 'runs'}",
    ]
    for prefix, package in PACKAGES.items():  # the example modules leave with the test
        for module in (tmp_path / prefix).glob("*.py"):
            sys.modules.pop(f"{package.__name__}.{module.stem}", None)


def test_the_readme_has_the_model_data_and_recipe_examples():
    assert set(readme_examples()) == {
        "src/mde_exp/models/two_layer.py",
        "conf/model/two_layer.yaml",
        "src/mde_exp/data/wine.py",
        "conf/data/wine.yaml",
        "experiments/abl_wine_width.py",
    }


def test_the_model_example_trains_and_refuses_a_key_it_does_not_take(examples, one_thread):
    common = ["model=two_layer", "data=digits", "profile=tiny", "trainer.max_epochs=1", *examples]
    cfg = store.compose([*common, "model.hidden=8"])
    result = execute(cfg)
    assert result.status == "finished" and 0.0 <= result.metrics["val/acc"] <= 1.0
    model = store.load_model(result.dir)
    assert type(model).__name__ == "TwoLayerNet" and model.net[1].out_features == 8
    with pytest.raises(ConfigError, match="model.hiden: TwoLayerNet has no such key"):
        execute(store.compose([*common, "+model.hiden=8"]))


def test_the_data_set_example_trains_a_model(examples, one_thread):
    cfg = store.compose(
        ["data=wine", "model=softmax_regression", "profile=tiny", "trainer.max_epochs=1", *examples]
    )
    result = execute(cfg)
    assert result.status == "finished"
    datamodule = store.load_datamodule(result.dir)
    assert datamodule.model_inputs()["num_classes"] == 3 and datamodule.model_inputs()["input_dim"] == 13


def test_the_recipe_example_runs_at_the_tiny_profile(examples, tmp_path, one_thread):
    recipes = load_recipes(tmp_path / "experiments")
    assert list(recipes) == ["abl-wine-width"]
    recipe = recipes["abl-wine-width"]
    ctx = RecipeContext("tiny", tmp_path / "figures", examples).for_recipe(recipe)
    output = recipe.run(ctx)
    assert (
        output.figure == tmp_path / "figures" / "abl-wine-width.png" and output.figure.stat().st_size > 10_000
    )
    assert len(output.claims) == 2 and all(c.passed for c in output.claims), output.claims
    assert len(output.runs) == 2
    config = OmegaConf.load(
        Path(output.runs[0]) / "config.yaml"
    )  # the runs carry the recipe's id and chapter
    assert config.figure_id == "abl-wine-width" and list(config.tags) == ["chapter-5"]
