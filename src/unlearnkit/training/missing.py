"""Stand-ins for a training recipe that was not given (a deletion request on a model of your own).

A method that trains from scratch (retraining) or reads the recipe (e.g.
``influence`` takes the L2 strength from its weight decay) needs the recipe
the original was trained with. unlearnkit cannot know it for a model it did
not train, and guessing would make "retraining" a different model from the
one the caller would get. So without ``recipe=`` the task carries one of
these: every method that never reads the recipe runs as usual, and the first
read of any recipe field raises :class:`~unlearnkit.errors.MissingRecipeError`
naming the method and how to pass the recipe.
"""

from __future__ import annotations

from typing import Any, NoReturn

from unlearnkit.errors import MissingRecipeError
from unlearnkit.training.loop import TrainSpec
from unlearnkit.training.recsys import RecTrainSpec


def _refuse(method: str, recipe: str, field: str) -> NoReturn:
    raise MissingRecipeError(
        f"method {method!r} reads the training recipe ({field!r}) of the original model, and none was given: "
        f"pass recipe={recipe}(...) with the settings your model was trained with "
        f"(CLI: --recipe {field}=...), or choose a method that does not read it"
    )


class MissingTrainSpec(TrainSpec):
    """A :class:`TrainSpec` whose every field raises :class:`MissingRecipeError` (see the module docstring)."""

    def __init__(self, method: str) -> None:  # deliberately no recipe fields
        self.method = method

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)  # copy, pickle and friends probe for dunders
        _refuse(self.method, "unlearnkit.training.TrainSpec", name)

    def get_params(self) -> dict[str, Any]:
        _refuse(self.method, "unlearnkit.training.TrainSpec", "epochs")

    def __repr__(self) -> str:
        return f"MissingTrainSpec(method={self.method!r})"


class MissingRecTrainSpec(RecTrainSpec):
    """A :class:`RecTrainSpec` whose every field raises :class:`MissingRecipeError` (see the module docstring)."""

    def __init__(self, method: str) -> None:  # deliberately no recipe fields
        self.method = method

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        _refuse(self.method, "unlearnkit.training.recsys.RecTrainSpec", name)

    def get_params(self) -> dict[str, Any]:
        _refuse(self.method, "unlearnkit.training.recsys.RecTrainSpec", "epochs")

    def __repr__(self) -> str:
        return f"MissingRecTrainSpec(method={self.method!r})"
