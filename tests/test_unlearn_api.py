"""``unlearnkit.unlearn`` on models defined here (not from the registries): results, structure, recipes, bad input."""

from __future__ import annotations

import inspect
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

import unlearnkit
from unlearnkit.errors import InvalidParameterError, MissingRecipeError, ModelStructureError, UnknownNameError, UnlearnkitError
from unlearnkit.methods.registry import METHODS
from unlearnkit.models import Classifier
from unlearnkit.params import constructor_parameters
from unlearnkit.testing import parameter_digest
from unlearnkit.training import TrainSpec

N_FEATURES, N_CLASSES = 6, 3


class TinyNet(nn.Module):
    """A model of "our user's": not a Classifier, not from any registry."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(N_FEATURES, 64)
        self.out = nn.Linear(64, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.hidden(x)))


def make_data(seed: int = 0) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor], np.ndarray]:
    """A learnable task whose first 12 training examples carry random labels: only memorisation fits them."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(N_FEATURES, N_CLASSES, generator=g)
    x = torch.randn(160, N_FEATURES, generator=g)
    y = (x @ w).argmax(1)
    forget = np.arange(12)
    y[:12] = (y[:12] + torch.randint(1, N_CLASSES, (12,), generator=g)) % N_CLASSES  # surely wrong labels
    xv = torch.randn(60, N_FEATURES, generator=g)
    return (x, y), (xv, (xv @ w).argmax(1)), forget


RECIPE = TrainSpec(epochs=200, batch_size=32, lr=0.1, momentum=0.9, weight_decay=0.0, schedule="constant")


def trained(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor]) -> nn.Module:
    from unlearnkit.training import train_model

    train_model(model, *data, RECIPE, torch.Generator().manual_seed(0))
    return model.eval()


@pytest.fixture(scope="module")
def setting() -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor], np.ndarray]:
    torch.manual_seed(0)
    train, validation, forget = make_data()
    return trained(TinyNet(), train), train, validation, forget


def test_retraining_through_the_call_forgets_memorised_examples_and_leaves_the_caller_model(setting) -> None:
    model, train, validation, forget = setting
    digest = parameter_digest(model)
    result = unlearnkit.unlearn(model, train, forget.tolist(), method="retrain", validation=validation, recipe=RECIPE,
                                model_factory=TinyNet, seed=3)
    assert parameter_digest(model) == digest
    assert type(result.model) is TinyNet and result.model is not model
    assert set(result.model.state_dict()) == set(model.state_dict())
    before, after = result.metrics["before"], result.metrics["after"]
    assert before["forget_accuracy"] == 1.0  # memorised wrong labels: the premise
    assert 0.0 <= after["forget_accuracy"] <= 0.5  # retrained without them: wrong labels are not predicted
    assert after["retain_accuracy"] >= 0.85 and after["validation_accuracy"] >= 0.7
    # Memorised, the wrong labels cost little; retrained without them, they cost a lot, and the
    # loss attack ranks them below unseen validation examples.
    assert before["forget_loss"] < 0.3 and 2.0 < after["forget_loss"] < 200.0
    assert 0.0 <= after["mia_auc"] < 0.2 < before["mia_auc"]
    assert result.method == "retrain" and result.params == {} and result.forget_count == 12 and result.seconds > 0


def test_same_seed_same_model_and_a_dataset_equals_the_tensor_pair(setting) -> None:
    model, train, validation, forget = setting
    a = unlearnkit.unlearn(model, train, forget, method="neggrad_plus", validation=validation, seed=5, epochs=2)
    b = unlearnkit.unlearn(model, TensorDataset(*train), forget, method="neggrad_plus", validation=TensorDataset(*validation),
                           seed=5, epochs=2)
    c = unlearnkit.unlearn(model, train, forget, method="neggrad_plus", validation=validation, seed=6, epochs=2)
    assert parameter_digest(a.model) == parameter_digest(b.model) != parameter_digest(c.model)
    assert a.params == {**METHODS["neggrad_plus"]().get_params(), "epochs": 2}
    assert a.metrics == b.metrics


def test_any_input_shape_and_no_validation() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(50, 2, 3, 4, 5, generator=g, dtype=torch.float64)  # 4-D examples, float64: converted
    y = torch.randint(0, 4, (50,), generator=g)
    model = nn.Sequential(nn.Flatten(), nn.Linear(120, 4)).double().float()
    result = unlearnkit.unlearn(model, (x, y.numpy()), np.array([0, 7]), method="finetune", epochs=1)
    assert "validation_accuracy" not in result.metrics["after"] and "mia_auc" not in result.metrics["after"]
    assert set(result.metrics["after"]) == {"forget_accuracy", "forget_loss", "retain_accuracy", "retain_loss"}


def test_structure_methods_name_what_they_need_and_work_on_a_classifier(setting) -> None:
    model, train, validation, forget = setting
    with pytest.raises(ModelStructureError, match=r"'eu_k' needs the model's layers .*Classifier\(body, head\)"):
        unlearnkit.unlearn(model, train, forget, method="eu_k", validation=validation)
    wrapped = Classifier(nn.Sequential(model.hidden, nn.ReLU()), model.out)
    result = unlearnkit.unlearn(wrapped, train, forget, method="eu_k", validation=validation, k=1, epochs=3)
    assert isinstance(result.model, Classifier)
    assert torch.equal(result.model.body[0].weight, model.hidden.weight)  # frozen: only the head (k=1) trained
    assert not torch.equal(result.model.head.weight, model.out.weight)


def test_fresh_copies_without_a_factory_need_reinitialisable_layers() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.PReLU(), nn.Linear(4, 2))
    x, y = torch.randn(20, 3), torch.randint(0, 2, (20,))
    with pytest.raises(ModelStructureError, match=r"PReLU.*model_factory="):
        unlearnkit.unlearn(model, (x, y), [0], method="retrain", recipe=TrainSpec(epochs=1))
    rebuilt = unlearnkit.unlearn(model, (x, y), [0], method="retrain", recipe=TrainSpec(epochs=1),
                                 model_factory=lambda: nn.Sequential(nn.Linear(3, 4), nn.PReLU(), nn.Linear(4, 2)))
    assert isinstance(rebuilt.model, nn.Sequential)
    with pytest.raises(InvalidParameterError, match=r"another architecture"):
        unlearnkit.unlearn(model, (x, y), [0], method="retrain", recipe=TrainSpec(epochs=1), model_factory=lambda: nn.Linear(3, 2))


def test_methods_that_read_the_recipe_say_so(setting) -> None:
    model, train, validation, forget = setting
    with pytest.raises(MissingRecipeError, match=r"'retrain' reads the training recipe.*recipe=unlearnkit.training.TrainSpec"):
        unlearnkit.unlearn(model, train, forget, method="retrain", validation=validation)
    with pytest.raises(InvalidParameterError, match=r"recipe: a classifier's recipe is an unlearnkit\.training\.TrainSpec"):
        unlearnkit.unlearn(model, train, forget, method="retrain", recipe={"epochs": 3})


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ([0, 160], r"forget_ids: 1 training index\(s\) out of range \[0, 160\): 160"),
        ([-1], r"out of range \[0, 160\): -1"),
        ([3, 3, 4], r"listed more than once: 3"),
        ([], "no ids given"),
        ([1.0, 2.0], "ids must be integers"),
        (["1"], "ids must be integers"),
        ("12", "got a string"),
        (list(range(160)), "name all 160 training examples"),
    ],
)
def test_bad_forget_ids_are_refused(setting, ids, message) -> None:
    model, train, _validation, _ = setting
    with pytest.raises(InvalidParameterError, match=message):
        unlearnkit.unlearn(model, train, ids, method="finetune")


def test_bad_methods_and_parameters_are_refused_before_any_work(setting) -> None:
    model, train, _validation, forget = setting
    with pytest.raises(UnknownNameError, match=r"unknown method 'scrubb' \(did you mean 'scrub'\?\)"):
        unlearnkit.unlearn(model, train, forget, method="scrubb")
    with pytest.raises(InvalidParameterError, match=r"scrub.alpah: unknown parameter of Scrub; allowed: .* \(did you mean 'alpha'\?\)"):
        unlearnkit.unlearn(model, train, forget, method="scrub", alpah=0.5)
    with pytest.raises(InvalidParameterError, match=r"scrub.lr: must be a float in \(0.0, inf\); got -1"):
        unlearnkit.unlearn(model, train, forget, method="scrub", lr=-1.0)
    with pytest.raises(InvalidParameterError, match=r"'ifru' is a method for \['recommendation'\]"):
        unlearnkit.unlearn(model, train, forget, method="ifru")


@pytest.mark.parametrize(
    ("train", "message"),
    [
        ((torch.randn(10, N_FEATURES), torch.zeros(9, dtype=torch.long)), "x has 10 examples but y has 9 labels"),
        ((torch.randn(10, N_FEATURES), torch.zeros(10)), "y must hold integer class indices"),
        ((torch.ones(10, N_FEATURES, dtype=torch.long), torch.zeros(10, dtype=torch.long)), "x must be floating point"),
        ((torch.randn(10, N_FEATURES), torch.full((10,), 3)), "labels go up to 3 but the model gives 3 logits"),
        ((torch.randn(10, 4), torch.zeros(10, dtype=torch.long)), "the model cannot run on train_data's examples of shape"),
        ((torch.randn(10, N_FEATURES),), "expected a Dataset or a pair"),
        ("data.npz", "expected a torch.utils.data.Dataset or a pair"),
    ],
)
def test_bad_data_is_refused_naming_the_argument(setting, train, message) -> None:
    model = setting[0]
    with pytest.raises(InvalidParameterError, match=message):
        unlearnkit.unlearn(model, train, [0], method="finetune")


def test_validation_of_another_shape_is_refused(setting) -> None:
    model, train, _, forget = setting
    with pytest.raises(InvalidParameterError, match=r"validation examples have shape \(5,\) but train_data's have \(6,\)"):
        unlearnkit.unlearn(model, train, forget, method="finetune", validation=(torch.randn(4, 5), torch.zeros(4, dtype=torch.long)))


def test_every_error_of_the_call_is_an_unlearnkit_error() -> None:
    assert issubclass(ModelStructureError, UnlearnkitError) and issubclass(MissingRecipeError, UnlearnkitError)


def test_no_method_parameter_is_shadowed_by_a_keyword_of_unlearn() -> None:
    keywords = set(inspect.signature(unlearnkit.unlearn).parameters) - {"hyper_parameters"}
    for name in METHODS:
        assert not keywords & set(constructor_parameters(METHODS[name])), name


def test_importing_the_package_stays_cheap() -> None:
    code = "import sys, unlearnkit; print('torch' in sys.modules, unlearnkit.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", unlearnkit.__version__]
