"""Recipes: one per book figure, table or ablation (experiments/<id>.py), with their claim checks."""

import importlib.util
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from mde_exp import store, sweep
from mde_exp.paths import experiments_dir
from mde_exp.run import RunResult, execute

PROFILES = ("tiny", "quick", "full")


@dataclass
class Claim:
    """One checkable statement of the book: what was expected, what was measured, and whether it held."""

    description: str
    expected: str
    measured: Any
    passed: bool
    book_value: Any = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RecipeOutput:
    """What a recipe produced: its figure, claims, the numbers behind them, and the runs it used."""

    figure: Path
    claims: list[Claim]
    values: dict[str, Any] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)


@dataclass
class RecipeContext:
    """What a recipe may use: the profile, where figures go, and the run store (through `train`)."""

    profile: str
    out_dir: Path
    overrides: Sequence[str] = ()  # added to every run's overrides (e.g. logger=none, store.root=...)
    recipe_id: str | None = None  # set while a recipe runs: its runs carry its id and chapter (W&B tags)
    chapter: int | None = None

    def for_recipe(self, recipe: "Recipe") -> "RecipeContext":
        """This context for running `recipe`: its runs carry the recipe's id and chapter."""
        return replace(self, recipe_id=recipe.id, chapter=recipe.chapter)

    def recipe_overrides(self) -> list[str]:
        """`figure_id=<recipe id>` and a `chapter-<n>` tag for the running recipe's runs (the store's config
        hash leaves both out, so a run shared by two recipes is still found)."""
        out = [f"figure_id={self.recipe_id}"] if self.recipe_id else []
        return out + ([f"tags=[chapter-{self.chapter}]"] if self.chapter is not None else [])

    def compose(self, overrides: Sequence[str], return_hydra_config: bool = False) -> DictConfig:
        return store.compose(
            [f"profile={self.profile}", *self.recipe_overrides(), *overrides, *self.overrides],
            return_hydra_config,
        )

    def train(self, overrides: Sequence[str]) -> RunResult:
        """One run through the store (skipped if finished, resumed if interrupted)."""
        return execute(self.compose(overrides))

    def sweep(self, overrides: Sequence[str]) -> list[tuple[list[str], RunResult]]:
        """Every job of a sweep (an experiment's `hydra.sweeper.params` and any `a,b,c` overrides)."""
        base = self.compose(
            [o for o in overrides if "," not in o.split("=", 1)[-1]], return_hydra_config=True
        )
        jobs = sweep.expand(overrides, sweep.sweep_params(base.hydra))
        return [(job, self.train(job)) for job in jobs]


@dataclass(frozen=True)
class Recipe:
    """A book figure's reproduction: `run` trains or computes what it needs and checks the claim."""

    id: str
    title: str
    book_ref: str
    chapter: int
    claim: str
    run: Callable[[RecipeContext], RecipeOutput]
    minutes_quick: float = 1.0  # estimated quick-profile time on a 2-core CPU


def load_recipes(directory: Path | None = None) -> dict[str, Recipe]:
    """Every recipe in experiments/ (each module defines RECIPE), by id, in chapter order."""
    recipes: dict[str, Recipe] = {}
    for path in sorted((directory or experiments_dir()).glob("*.py")):
        if path.name.startswith("_"):
            continue
        spec = importlib.util.spec_from_file_location(f"mde_exp_recipes.{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        recipe = getattr(module, "RECIPE", None)
        if isinstance(recipe, Recipe):
            if recipe.id in recipes:
                raise ValueError(f"recipe id {recipe.id} is defined twice ({path.name})")
            recipes[recipe.id] = recipe
    return dict(sorted(recipes.items(), key=lambda kv: book_order(kv[1])))


def book_order(recipe: Recipe) -> tuple:
    """Chapter, then figures and tables by number (fig-2.3 before fig-2.10), then ablations by name."""
    return order_key(recipe.chapter, recipe.id)


def order_key(chapter: int, recipe_id: str) -> tuple:
    """The book order of a recipe id in its chapter (see book_order), for records as for recipes."""
    numbers = tuple(int(n) for n in re.findall(r"\d+", recipe_id))
    return (chapter, recipe_id.startswith("abl-"), numbers, recipe_id)
