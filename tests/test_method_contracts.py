"""Method-registry facts beyond the generated contract checks (tests/test_registry_contracts.py)."""

from __future__ import annotations

import pytest

from unlearnkit.methods import METHODS
from unlearnkit.testing import MethodContractError, check_method, method_checks


def test_roles_mark_the_reference_and_the_baseline() -> None:
    roles = {name: METHODS[name].role for name in METHODS}
    assert set(roles.values()) <= {"retrain", "original", "method"}
    assert {n for n, r in roles.items() if r == "retrain"} == {"retrain", "retrain_rec", "retrain_lm"}
    assert {n for n, r in roles.items() if r == "original"} == {"original", "original_rec", "original_lm"}


def test_check_method_passes_a_conforming_method() -> None:
    check_method(METHODS["finetune"])


def test_check_method_reports_every_broken_rule() -> None:
    """A method that mutates its input, ignores its seed and accepts anything fails with each reason listed."""
    import torch

    from unlearnkit.methods.basic import Finetune

    class Sloppy(Finetune):
        description = "mutates the caller's model"

        def unlearn(self, model, task):  # type: ignore[no-untyped-def]  # deliberately breaks the contract
            with torch.no_grad():
                for parameter in model.parameters():
                    parameter.add_(torch.randn(parameter.shape))
            return super().unlearn(model, task)

    with pytest.raises(MethodContractError) as error:
        check_method(Sloppy)
    message = str(error.value)
    assert "modified the caller's model" in message
    assert "same seed gave different models" in message


def test_a_refused_setting_passes_only_if_the_input_is_untouched_and_the_refusal_repeats() -> None:
    """Refusing an unsuitable setting is allowed; touching the input first, or refusing only sometimes, is not."""
    import torch

    from unlearnkit.errors import UnsuitableSettingError
    from unlearnkit.methods.basic import Finetune

    class Refuses(Finetune):
        description = "refuses every setting, cleanly"

        def unlearn(self, model, task):  # type: ignore[no-untyped-def]  # a test double
            raise UnsuitableSettingError("this setting does not suit this model")

    class RefusesAfterTouching(Finetune):
        description = "changes the caller's model, then refuses"

        def unlearn(self, model, task):  # type: ignore[no-untyped-def]  # deliberately breaks the contract
            with torch.no_grad():
                next(model.parameters()).add_(1.0)
            raise UnsuitableSettingError("this setting does not suit this model")

    calls = []

    class RefusesSometimes(Finetune):
        description = "refuses every other call"

        def unlearn(self, model, task):  # type: ignore[no-untyped-def]  # deliberately breaks the contract
            calls.append(1)
            if len(calls) % 2 == 0:
                raise UnsuitableSettingError("this setting does not suit this model")
            return super().unlearn(model, task)

    def run(cls: type[Finetune], name: str) -> None:
        dict(method_checks(cls))[f"{name}[classification]"]()

    run(Refuses, "untouched_input")
    run(Refuses, "seeded_determinism")
    with pytest.raises(MethodContractError, match="modified the caller's model on a classification task before refusing"):
        run(RefusesAfterTouching, "untouched_input")
    with pytest.raises(MethodContractError, match="same seed gave different models \\(or refusals\\)"):
        run(RefusesSometimes, "seeded_determinism")
