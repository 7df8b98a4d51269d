"""Recipes: named, registered training configurations of ``VideoClassifier``.

A recipe is what a user would otherwise have to assemble from a tutorial: a model kind and
the settings that suit it on a small dataset (a few hundred clips on a CPU). ``vidclass
recipes`` lists them, ``vidclass compare`` scores them side by side on the same grouped
folds, ``vidclass train --recipe NAME`` trains one. An ``ensemble`` recipe averages the
probabilities of other recipes (late fusion of their scores, as TSN fuses its two streams).

Each recipe carries a rough cost (training seconds per fold per 100 clips on a 2-core CPU,
measured here) so ``compare --budget`` can skip what will not fit before starting it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from vidclass.errors import ConfigError

Family = Literal["features", "pose", "pixels", "ensemble"]


@dataclass(frozen=True)
class Recipe:
    """A named configuration: ``params`` for ``VideoClassifier`` (or ``members`` to average)."""

    name: str
    family: Family
    description: str
    params: Mapping[str, Any] = field(default_factory=dict)
    members: tuple[str, ...] = ()  # ensemble: the recipes whose probabilities are averaged
    cost: float = 0.0  # estimated training seconds per fold per 100 clips on a 2-core CPU
    fast: bool = False  # in ``--recipes fast``
    weights: str = "ImageNet"  # where the trained network starts: ImageNet, Kinetics-400, scratch, BlazePose

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        if (self.family == "ensemble") != bool(self.members):
            raise ConfigError(f"recipe {self.name!r}: an ensemble (and only an ensemble) lists members")

    def classifier_params(self) -> dict[str, Any]:
        """The ``VideoClassifier`` keyword arguments this recipe sets (a copy)."""
        if self.family == "ensemble":
            raise ConfigError(f"recipe {self.name!r} is an ensemble of {', '.join(self.members)}; train its members")
        return dict(self.params)

    def settings(self) -> str:
        """``model=lrcn inputs=rgbdiff ...`` or ``mean of a + b``: what the recipe sets, for listings."""
        if self.family == "ensemble":
            return "mean of " + " + ".join(self.members)
        return " ".join(f"{name}={value}" for name, value in self.params.items())


_REGISTRY: dict[str, Recipe] = {}


def register_recipe(recipe: Recipe) -> Recipe:
    """Add ``recipe`` to the registry (a name is registered once); returns it."""
    if recipe.name in _REGISTRY:
        raise ConfigError(f"recipe {recipe.name!r} is already registered")
    for member in recipe.members:
        if member not in _REGISTRY:
            raise ConfigError(f"recipe {recipe.name!r}: member {member!r} is not a registered recipe")
    _REGISTRY[recipe.name] = recipe
    return recipe


def list_recipes() -> list[str]:
    """Registered recipe names, in registration order (cheap ones first)."""
    return list(_REGISTRY)


def get_recipe(name: str) -> Recipe:
    """The registered recipe ``name``; an unknown name is a ConfigError listing the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown recipe {name!r}; known: {', '.join(_REGISTRY)} (see `vidclass recipes`)") from None


def select_recipes(selection: str | Iterable[str]) -> list[Recipe]:
    """``all``, ``fast`` or comma-separated names (in the given order); an ensemble brings its members."""
    if isinstance(selection, str):
        if selection == "all":
            return list(_REGISTRY.values())
        if selection == "fast":
            return [recipe for recipe in _REGISTRY.values() if recipe.fast]
        selection = [name.strip() for name in selection.split(",") if name.strip()]
    chosen: list[Recipe] = []
    for name in selection:
        recipe = get_recipe(name)
        for member in recipe.members:
            if get_recipe(member) not in chosen:
                chosen.append(get_recipe(member))
        if recipe not in chosen:
            chosen.append(recipe)
    if not chosen:
        raise ConfigError("no recipes selected; give all, fast or names from `vidclass recipes`")
    return chosen


# --- the registered recipes -----------------------------------------------------------------------
# Frozen features: the default backbone's features of a 32-frame grid, TSN views of 16 frames.

_HEADS = {"linear": "linear (logistic regression)", "attention": "attention pooling",
          "bilstm": "BiLSTM", "gru": "stacked GRU", "lstm": "LSTM",
          "transformer": "transformer encoder", "mean": "mean of the frames (order-blind)"}
_INPUTS = {"appearance": ("appearance", "frame features"),
           "rgbdiff": ("appearance+rgbdiff", "frame features + features of RGB differences (TSN)"),
           "motion": ("appearance+motion", "frame features + their change between sampled frames"),
           "rgbdiff-only": ("rgbdiff", "features of RGB differences alone (TSN's motion stream)"),
           "flow": ("appearance+flow", "frame features + features of optical flow images (DIS)"),
           "flow-only": ("flow", "features of optical flow images (DIS) alone")}


def _features(head: str, inputs: str, cost: float) -> Recipe:
    value, what = _INPUTS[inputs]
    return Recipe(f"{head}-{inputs}", "features", f"{_HEADS[head]} head on frozen ImageNet {what}",
                  {"model": "features", "head": head, "inputs": value}, cost=cost, fast=True)


for _head, _inputs, _cost in (
    ("mean", "appearance", 6), ("bilstm", "appearance", 10), ("attention", "appearance", 8),
    ("attention", "motion", 8), ("attention", "rgbdiff", 8), ("mean", "rgbdiff", 6), ("lstm", "rgbdiff", 10),
    ("bilstm", "rgbdiff", 10), ("gru", "rgbdiff", 10), ("transformer", "rgbdiff", 10),
    ("linear", "appearance", 1), ("linear", "rgbdiff", 1), ("linear", "rgbdiff-only", 1),
    ("attention", "rgbdiff-only", 8),
    ("linear", "flow", 1), ("attention", "flow", 8), ("transformer", "flow", 10), ("linear", "flow-only", 1),
    ("attention", "flow-only", 8), ("transformer", "flow-only", 10),
):
    register_recipe(_features(_head, _inputs, _cost))

# The same features on smaller frames: the CNN's cost falls with the square of the side, so 160 px
# extracts about 2x and 112 px about 4x faster than the backbone's own 224 px.
for _head, _size in (("attention", 112), ("attention", 160), ("transformer", 112), ("transformer", 160),
                     ("mean", 112), ("mean", 160)):
    _base = _features(_head, "rgbdiff", 8 if _head != "mean" else 6)
    register_recipe(Recipe(f"{_base.name}-{_size}px", "features", f"{_base.description}, frames of {_size} px",
                           {**_base.params, "size": _size}, cost=_base.cost, fast=True))

# RGB differences alone on a grid of 16 frames (one evaluation view): a quarter of the default's CNN work.
_base = get_recipe("linear-rgbdiff-only")
register_recipe(Recipe("linear-rgbdiff-only-grid16", "features", f"{_base.description}, a grid of 16 frames",
                       {**_base.params, "grid": 16}, cost=_base.cost, fast=True))

register_recipe(Recipe(
    "features-ensemble", "ensemble", "mean of the attention, BiLSTM and GRU heads on appearance+rgbdiff",
    members=("attention-rgbdiff", "bilstm-rgbdiff", "gru-rgbdiff"), fast=True))

# Pose landmarks (BlazePose, the [pose] extra), alone and fused with appearance.
register_recipe(Recipe("pose-lstm", "pose", "LSTM head on BlazePose skeletons and their velocity",
                       {"model": "features", "head": "lstm", "inputs": "pose+velocity"}, cost=60, weights="BlazePose"))
register_recipe(Recipe("attention-rgbdiff+pose", "pose", "attention head on appearance+rgbdiff features and skeletons",
                       {"model": "features", "head": "attention", "inputs": "appearance+rgbdiff+pose"}, cost=60))

# Models trained on pixels: 8 frames of 112 px, the default backbone fine-tuned (or from scratch). Costs
# from fight_surv folds here (frame models 450-600 s and early fusion 75-120 s per fold of ~177 clips at load
# ~2; lrcn-rgbdiff 1042 s and 3d-c3d_small 320 s per fold on average, niced beside other work); the other 3D
# and ConvLSTM ones scaled from theirs by their GFLOPs per clip (benchmarks/clip_model_cost.py).
_PIXELS = {"frames": 8, "size": 112}
register_recipe(Recipe("frame-rgb", "pixels", "ImageNet CNN fine-tuned on single frames, clip = mean of frames",
                       {"model": "frame", "inputs": "rgb", **_PIXELS}, cost=280))
register_recipe(Recipe("frame-rgbdiff", "pixels", "the frame model on RGB differences (TSN's motion stream)",
                       {"model": "frame", "inputs": "rgbdiff", **_PIXELS}, cost=280))
register_recipe(Recipe("frame-flow", "pixels", "the frame model on optical flow images (a two-stream network's "
                       "flow stream)", {"model": "frame", "inputs": "flow", **_PIXELS}, cost=300))
register_recipe(Recipe("tsn-two-stream", "ensemble", "late fusion of the RGB and RGB-difference frame models (TSN)",
                       members=("frame-rgb", "frame-rgbdiff")))
register_recipe(Recipe("two-stream-flow", "ensemble", "late fusion of the RGB and optical-flow frame models (the two-stream "
                       "network of Simonyan and Zisserman)", members=("frame-rgb", "frame-flow")))
register_recipe(Recipe("flow-ensemble", "ensemble", "mean of the frozen (linear-flow-only) and the fine-tuned (frame-flow) "
                       "optical-flow streams", members=("linear-flow-only", "frame-flow")))
register_recipe(Recipe("lrcn-rgbdiff", "pixels", "CNN + LSTM trained end to end on RGB differences (LRCN)",
                       {"model": "lrcn", "head": "lstm", "inputs": "rgbdiff", **_PIXELS}, cost=590))
register_recipe(Recipe("early_fusion", "pixels", "the clip's frames stacked as input channels of the ImageNet CNN",
                       {"model": "early_fusion", **_PIXELS}, cost=55))
register_recipe(Recipe("3d-inflated", "pixels", "the ImageNet CNN inflated to 3D (I3D-style), fine-tuned",
                       {"model": "3d", "arch": "inflated", **_PIXELS}, cost=750))
register_recipe(Recipe("3d-c3d_small", "pixels", "a small C3D-style 3D CNN trained from scratch",
                       {"model": "3d", "arch": "c3d_small", **_PIXELS}, cost=180, weights="scratch"))
register_recipe(Recipe("3d-r2plus1d_18", "pixels", "torchvision's R(2+1)D-18 fine-tuned from Kinetics-400",
                       {"model": "3d", "arch": "r2plus1d_18", **_PIXELS}, cost=900, weights="Kinetics-400"))
register_recipe(Recipe("convlstm", "pixels", "ConvLSTM cells over 20 frames of 64 px, from scratch (the seed's)",
                       {"model": "convlstm", "frames": 20, "size": 64}, cost=500, weights="scratch"))
