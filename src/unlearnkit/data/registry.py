"""Registries of the data stage: datasets and forget selectors."""

from __future__ import annotations

from unlearnkit.data.membership import SplitFile
from unlearnkit.data.recsys.external import InteractionFile, InteractionSplitFile, UserFile
from unlearnkit.data.recsys.selectors import (
    FlipLabels,
    Interactions,
    InteractionSelector,
    RandomInteractions,
    Users,
)
from unlearnkit.data.recsys.sources import (
    InteractionSource,
    MovieLens100k,
    SyntheticInteractions,
)
from unlearnkit.data.recsys.splitting import InteractionSplitSpec
from unlearnkit.data.selectors import (
    ForgetSelector,
    GroupSamples,
    IndexFile,
    RandomSamples,
    WholeClasses,
    WholeGroups,
)
from unlearnkit.data.sources.base import DatasetSource
from unlearnkit.data.sources.digits import Digits
from unlearnkit.data.sources.fashion_mnist import FashionMnist
from unlearnkit.data.sources.mnist5k import Mnist5k
from unlearnkit.data.sources.orl_faces import OrlFaces
from unlearnkit.data.sources.synthetic import Synthetic
from unlearnkit.data.splitting import SplitSpec
from unlearnkit.params import Configurable
from unlearnkit.registry import Registry

# The split recipe an experiment uses when its `split` table names none.
DEFAULT_SPLIT = "random"

DATASETS: Registry[type[DatasetSource]] = Registry(
    "dataset",
    {
        "digits": Digits,
        "mnist5k": Mnist5k,
        "orl_faces": OrlFaces,
        "fashion_mnist": FashionMnist,
        "synthetic": Synthetic,
    },
)

SELECTORS: Registry[type[ForgetSelector]] = Registry(
    "selector",
    {
        "random": RandomSamples,
        "classes": WholeClasses,
        "groups": WholeGroups,
        "group_samples": GroupSamples,
        "index_file": IndexFile,
    },
)

# `split = { name = "...", ... }`; without a name, the seeded recipe.
SPLITS: Registry[type[Configurable]] = Registry("split", {DEFAULT_SPLIT: SplitSpec, "file": SplitFile})

# Recommendation (task kind "recommendation"): interaction datasets and forget selectors.
INTERACTION_DATASETS: Registry[type[InteractionSource]] = Registry(
    "interaction dataset",
    {"movielens100k": MovieLens100k, "synthetic_interactions": SyntheticInteractions},
)

INTERACTION_SELECTORS: Registry[type[InteractionSelector]] = Registry(
    "interaction selector",
    {
        "flip_labels": FlipLabels,
        "random_interactions": RandomInteractions,
        "users": Users,
        "interactions": Interactions,
        "interaction_file": InteractionFile,
        "user_file": UserFile,
    },
)

INTERACTION_SPLITS: Registry[type[Configurable]] = Registry(
    "interaction split", {DEFAULT_SPLIT: InteractionSplitSpec, "file": InteractionSplitFile}
)
