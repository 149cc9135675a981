from __future__ import annotations

import torch
from torch import nn

from unlearnkit.data.dataset import DatasetMeta
from unlearnkit.models.base import Classifier, ModelBuilder
from unlearnkit.params import Interval


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet(ModelBuilder):
    """CIFAR-style ResNet: 3x3 stem, ``stages`` stages of ``blocks_per_stage`` basic blocks.

    Width doubles and resolution halves at each stage after the first;
    ``width=64, stages=4, blocks_per_stage=2`` is ResNet-18's layout.
    """

    description = "CIFAR-style ResNet with configurable width and depth"
    parameter_constraints = {
        "width": Interval(int, 1, 512),
        "stages": Interval(int, 1, 4),
        "blocks_per_stage": Interval(int, 1, 8),
    }

    def __init__(self, *, width: int = 16, stages: int = 3, blocks_per_stage: int = 1) -> None:
        self.width = width
        self.stages = stages
        self.blocks_per_stage = blocks_per_stage

    def _build(self, meta: DatasetMeta) -> Classifier:
        layers: list[nn.Module] = [
            nn.Sequential(nn.Conv2d(meta.channels, self.width, 3, 1, 1, bias=False), nn.BatchNorm2d(self.width), nn.ReLU())
        ]
        c_in = self.width
        for stage in range(self.stages):
            c_out = self.width * 2**stage
            for block in range(self.blocks_per_stage):
                layers.append(BasicBlock(c_in, c_out, 2 if (stage > 0 and block == 0) else 1))
                c_in = c_out
        layers.append(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()))
        return Classifier(nn.Sequential(*layers), nn.Linear(c_in, meta.n_classes))
