"""Deleting data from your own model: a complete example (runs in seconds on a CPU).

A small classifier of our own is trained on synthetic data; then 20
training examples are deleted with SCRUB (fast, approximate) and with exact
retraining (the reference). Run: ``python examples/own_model.py``.
"""

from __future__ import annotations

import torch
from torch import nn

import unlearnkit
from unlearnkit.training import TrainSpec, train_model

torch.set_num_threads(1)


class Net(nn.Module):
    """Any nn.Module mapping a batch (N, ...) to logits (N, classes) will do."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


# Data: 4 classes from a random linear rule; 400 training and 200 validation examples.
generator = torch.Generator().manual_seed(0)
rule = torch.randn(20, 4, generator=generator)
x_train, x_val = torch.randn(400, 20, generator=generator), torch.randn(200, 20, generator=generator)
y_train, y_val = (x_train @ rule).argmax(1), (x_val @ rule).argmax(1)

# Train the model the way you always do; here with unlearnkit's loop, so the recipe is on record.
recipe = TrainSpec(epochs=60, batch_size=32, lr=0.05)
torch.manual_seed(0)
model = Net()
train_model(model, x_train, y_train, recipe, torch.Generator().manual_seed(0))

# A deletion request: these training examples must go.
forget_ids = list(range(0, 400, 20))

approximate = unlearnkit.unlearn(model, (x_train, y_train), forget_ids, method="scrub", validation=(x_val, y_val), epochs=3)
exact = unlearnkit.unlearn(model, (x_train, y_train), forget_ids, method="retrain", validation=(x_val, y_val), recipe=recipe)

print(f"{'':<20}{'before':>10}{'scrub':>10}{'retrain':>10}")
for key in ("forget_accuracy", "retain_accuracy", "validation_accuracy", "mia_auc"):
    row = (approximate.metrics["before"][key], approximate.metrics["after"][key], exact.metrics["after"][key])
    print(f"{key:<20}" + "".join(f"{value:>10.3f}" for value in row))
print(f"seconds: scrub {approximate.seconds:.2f}, retrain {exact.seconds:.2f}")
print(f"scrub ran with {approximate.params}")
print(f"new model: {type(approximate.model).__name__} (your `model` is untouched)")
