from __future__ import annotations

import torch

from unlearnkit.data.dataset import ClassificationData
from unlearnkit.data.sources.base import DatasetSource
from unlearnkit.params import Interval


class Synthetic(DatasetSource):
    """Generated image-like classification data with identities, for tests.

    Each class has a smooth prototype image; each group (a "person") within a
    class adds its own offset pattern; each sample adds pixel noise.  Classes
    are separable but not trivially, and samples of one group resemble each
    other, so memorisation of a group is measurable.
    """

    description = "generated image-like data with classes and identities (tests)"
    parameter_constraints = {
        "n_classes": Interval(int, 2, 100),
        "groups_per_class": Interval(int, 1, 100),
        "samples_per_group": Interval(int, 2, 1000),
        "size": Interval(int, 4, 64),
        "channels": Interval(int, 1, 3),
        "noise": Interval(float, 0.0, 10.0),
        "seed": Interval(int, 0, None),
    }

    def __init__(
        self,
        *,
        n_classes: int = 4,
        groups_per_class: int = 4,
        samples_per_group: int = 10,
        size: int = 8,
        channels: int = 1,
        noise: float = 1.0,
        seed: int = 0,
    ) -> None:
        self.n_classes = n_classes
        self.groups_per_class = groups_per_class
        self.samples_per_group = samples_per_group
        self.size = size
        self.channels = channels
        self.noise = noise
        self.seed = seed

    def load(self) -> ClassificationData:
        g = torch.Generator().manual_seed(self.seed)
        shape = (self.channels, self.size, self.size)
        prototypes = torch.randn(self.n_classes, *shape, generator=g)
        n_groups = self.n_classes * self.groups_per_class
        group_offsets = 0.7 * torch.randn(n_groups, *shape, generator=g)
        groups = torch.arange(n_groups).repeat_interleave(self.samples_per_group)
        y = groups // self.groups_per_class
        noise = self.noise * torch.randn(len(groups), *shape, generator=g)
        x = (prototypes[y] + group_offsets[groups] + noise).float()
        return ClassificationData(
            "synthetic", x, y.long(), groups.long(), n_classes=self.n_classes, group_name="identity"
        )
