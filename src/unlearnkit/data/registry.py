"""Registries of the data stage: datasets and forget selectors."""

from __future__ import annotations

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
from unlearnkit.data.sources.orl_lighting import OrlLighting
from unlearnkit.data.sources.synthetic import Synthetic
from unlearnkit.registry import Registry

DATASETS: Registry[type[DatasetSource]] = Registry(
    "dataset",
    {
        "digits": Digits,
        "mnist5k": Mnist5k,
        "orl_faces": OrlFaces,
        "orl_lighting": OrlLighting,
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

# Recommendation (task kind "recommendation"): interaction datasets and forget selectors.
INTERACTION_DATASETS: Registry[type[InteractionSource]] = Registry(
    "interaction dataset",
    {"movielens100k": MovieLens100k, "synthetic_interactions": SyntheticInteractions},
)

INTERACTION_SELECTORS: Registry[type[InteractionSelector]] = Registry(
    "interaction selector",
    {"flip_labels": FlipLabels, "random_interactions": RandomInteractions, "users": Users, "interactions": Interactions},
)
