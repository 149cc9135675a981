"""A setting under which training diverges is refused as an unsuitable setting, and the caller's model is untouched."""

from __future__ import annotations

import pytest

from conftest import parameter_digest
from unlearnkit.errors import TrainingDivergedError, UnsuitableSettingError
from unlearnkit.methods import METHODS


def test_a_diverging_learning_rate_is_an_unsuitable_setting(tiny_original, make_task) -> None:
    before = parameter_digest(tiny_original)
    with pytest.raises(TrainingDivergedError, match="non-finite") as caught:
        METHODS["finetune"](lr=1e12, epochs=1).unlearn(tiny_original, make_task())
    # tune records it as an unusable setting, and `except FloatingPointError` keeps catching it
    assert isinstance(caught.value, UnsuitableSettingError) and isinstance(caught.value, FloatingPointError)
    assert parameter_digest(tiny_original) == before
