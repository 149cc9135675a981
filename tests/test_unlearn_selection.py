"""``unlearnkit.unlearn(..., select="oracle_free")`` on the toy model of ``test_unlearn_api``: the choice, its record, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import unlearnkit
from test_unlearn_api import RECIPE, TinyNet, make_data, trained
from unlearnkit.errors import InvalidParameterError, UnsuitableSettingError
from unlearnkit.metrics.oracle_free import DEFAULT_TOLERANCE, TIME_WEIGHT
from unlearnkit.testing import parameter_digest

# A destructive configured setting (plain gradient ascent, large steps, no early stop): the selection must not keep it.
HARSH = {"lr": 0.1, "epochs": 10, "early_stop": False}


@pytest.fixture(scope="module")
def setting() -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor], np.ndarray]:
    torch.manual_seed(0)
    train, validation, forget = make_data()
    return trained(TinyNet(), train), train, validation, forget


def select(setting, seed: int, budget: int = 4, tolerance: float | None = None,
           training_seconds: float | None = None) -> unlearnkit.DeletionResult:
    model, train, validation, forget = setting
    return unlearnkit.unlearn(model, train, forget, method="neggrad", validation=validation, recipe=RECIPE,
                              select="oracle_free", budget=budget, seed=seed, tolerance=tolerance,
                              training_seconds=training_seconds, **HARSH)


def without_seconds(selection: dict) -> dict:
    return {**selection, "seconds": None, "trials": [{**t, "seconds": None} for t in selection["trials"]]}


def test_the_selection_keeps_the_best_feasible_setting_and_the_request_runs_with_it(setting) -> None:
    model = setting[0]
    digest = parameter_digest(model)
    result = select(setting, seed=3)
    assert parameter_digest(model) == digest  # the caller's model is never modified
    selection = result.selection
    assert selection is not None and selection["criterion"] == "oracle_free" and selection["budget"] == 4
    trials = selection["trials"]
    assert len(trials) == 4 and all(trials[0]["params"][k] == v for k, v in HARSH.items())  # the configured one first
    assert all(t["criteria"]["n_forget"] == 12 and t["criteria"]["n_calibration"] == 60 for t in trials)
    feasible = [t for t in trials if t["feasible"]]
    best = min(feasible, key=lambda t: t["score"])
    assert selection["chosen"] == best["params"] and selection["score"] == best["score"]
    # The harsh setting moves the forget losses far past the unseen examples': it scores worse and is not chosen.
    assert trials[0]["score"] > selection["score"] + 0.3 and selection["chosen"]["lr"] != HARSH["lr"]
    assert math.isclose(selection["seconds"], sum(t["seconds"] for t in trials))
    # The request ran with the chosen setting (derived defaults filled in), exactly as a call naming it would.
    given = {k: v for k, v in selection["chosen"].items() if v is not None}
    assert all(result.params[k] == v for k, v in given.items()) and None not in result.params.values()
    direct = unlearnkit.unlearn(model, setting[1], setting[3], method="neggrad", validation=setting[2], recipe=RECIPE,
                                seed=3, **given)
    assert direct.selection is None and parameter_digest(direct.model) == parameter_digest(result.model)
    assert direct.metrics == result.metrics


def test_the_selection_is_deterministic_for_a_seed(setting) -> None:
    a, b, c = select(setting, seed=3), select(setting, seed=3), select(setting, seed=4)
    assert a.selection is not None and b.selection is not None and c.selection is not None
    assert without_seconds(a.selection) == without_seconds(b.selection)
    assert parameter_digest(a.model) == parameter_digest(b.model)
    # Another seed draws other grid points (the configured setting stays first).
    assert [t["params"] for t in c.selection["trials"]][1:] != [t["params"] for t in a.selection["trials"]][1:]


def feasible_by_the_rule(trial: dict, tolerance: float) -> bool:
    """The documented floor: (1 - tolerance) x the original's validation utility, less two standard errors."""
    c = trial["criteria"]
    return c["validation_utility"] >= (1 - tolerance) * c["original_validation_utility"] - 2 * c["validation_noise"]


def test_the_tolerance_decides_which_settings_are_selectable(setting) -> None:
    default, strict, loose = select(setting, seed=3), select(setting, seed=3, tolerance=0.0), select(setting, seed=3, tolerance=0.5)
    assert (default.selection["tolerance"], strict.selection["tolerance"], loose.selection["tolerance"]) == (DEFAULT_TOLERANCE, 0.0, 0.5)
    for result, tolerance in ((default, DEFAULT_TOLERANCE), (strict, 0.0), (loose, 0.5)):
        trials = result.selection["trials"]
        assert [t["feasible"] for t in trials] == [feasible_by_the_rule(t, tolerance) for t in trials]
    # The harsh setting loses validation accuracy: selectable when half may go, not when none may.
    harsh_strict, harsh_loose = strict.selection["trials"][0], loose.selection["trials"][0]
    assert harsh_loose["criteria"]["validation_utility"] < harsh_loose["criteria"]["original_validation_utility"]
    assert harsh_loose["feasible"] and not harsh_strict["feasible"] and "below 1.00 x the original's" in harsh_strict["why_not"]
    # The tolerance decides feasibility only: the scores are the same.
    assert [t["score"] for t in strict.selection["trials"]] == [t["score"] for t in loose.selection["trials"]]
    # With the harsh setting alone it decides the request: chosen under 0.5, refused under 0.0.
    alone = select(setting, seed=3, budget=1, tolerance=0.5)
    assert alone.selection["chosen"]["lr"] == HARSH["lr"] and alone.params["lr"] == HARSH["lr"]
    with pytest.raises(UnsuitableSettingError, match=r"none of the 1 settings tried is selectable .*below 1.00 x the original's"):
        select(setting, seed=3, budget=1, tolerance=0.0)


def test_the_training_seconds_add_the_time_term_of_tune(setting) -> None:
    untimed, timed = select(setting, seed=3), select(setting, seed=3, training_seconds=0.01)
    assert untimed.selection["training_seconds"] is None and timed.selection["training_seconds"] == 0.01
    for before, after in zip(untimed.selection["trials"], timed.selection["trials"], strict=True):
        assert before["params"] == after["params"] and before["criteria"] == after["criteria"] and before["time_term"] == 0.0
        # TIME_WEIGHT x the trial's seconds over the original's training seconds, added to the same score.
        assert after["time_term"] == pytest.approx(TIME_WEIGHT * after["seconds"] / 0.01, rel=1e-12) and after["time_term"] > 0
        assert after["score"] == pytest.approx(before["score"] + after["time_term"], rel=1e-12)
    best = min((t for t in timed.selection["trials"] if t["feasible"]), key=lambda t: t["score"])
    assert timed.selection["chosen"] == best["params"] and timed.selection["score"] == best["score"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"select": "oracle-free"}, r"select: the only selection is 'oracle_free'.*got 'oracle-free'"),
        ({"select": "oracle_free", "budget": 0}, r"budget: .* at least 1; got 0"),
        ({"select": "oracle_free", "budget": 2.5}, r"budget: .* at least 1; got 2.5"),
        ({"select": "oracle_free", "budget": True}, r"budget: .* at least 1; got True"),
        ({"budget": 3}, r"budget: only read with select='oracle_free'"),
        ({"tolerance": 0.1}, r"tolerance: only read with select='oracle_free'.*got tolerance=0.1"),
        ({"training_seconds": 60.0}, r"training_seconds: only read with select='oracle_free'.*got training_seconds=60.0"),
        ({"select": "oracle_free", "tolerance": 1.0}, r"tolerance must be in \[0, 1\): the share .*; got 1.0"),
        ({"select": "oracle_free", "tolerance": -0.1}, r"tolerance must be in \[0, 1\).*got -0.1"),
        ({"select": "oracle_free", "tolerance": math.nan}, r"tolerance must be in \[0, 1\).*got nan"),
        ({"select": "oracle_free", "tolerance": "0.1"}, r"tolerance must be in \[0, 1\).*got '0.1'"),
        ({"select": "oracle_free", "tolerance": False}, r"tolerance must be in \[0, 1\).*got False"),
        ({"select": "oracle_free", "training_seconds": 0}, r"training_seconds must be a finite number of seconds above 0.*got 0"),
        ({"select": "oracle_free", "training_seconds": -5.0}, r"training_seconds must be .*got -5.0"),
        ({"select": "oracle_free", "training_seconds": math.inf}, r"training_seconds must be .*got inf"),
        ({"select": "oracle_free", "training_seconds": math.nan}, r"training_seconds must be .*got nan"),
        ({"select": "oracle_free", "training_seconds": "60"}, r"training_seconds must be .*got '60'"),
        ({"select": "oracle_free", "validation": None}, r"validation: select=.oracle_free. compares .* \(none was given\)"),
        ({"select": "oracle_free", "validation": "one"}, r"validation: too small for select='oracle_free'.*got 1 validation"),
        ({"select": "oracle_free", "method": "retrain"}, r"method 'retrain' has no hyper-parameter search space"),
    ],
)
def test_a_selection_it_cannot_make_is_refused_before_any_work(setting, arguments: dict, message: str) -> None:
    model, train, validation, forget = setting
    digest = parameter_digest(model)
    call = {"method": "neggrad", "validation": validation, "recipe": RECIPE, **arguments}
    if call["validation"] == "one":
        call["validation"] = (validation[0][:1], validation[1][:1])
    with pytest.raises(InvalidParameterError, match=message):
        unlearnkit.unlearn(model, train, forget, **call)
    assert parameter_digest(model) == digest


def test_a_recommender_request_selects_through_the_same_path() -> None:
    from test_unlearn_api_recsys import N_ITEMS, N_USERS, interactions
    from test_unlearn_api_recsys import RECIPE as REC_RECIPE
    from unlearnkit.data.recsys.interactions import InteractionData
    from unlearnkit.models.recsys.embedding import Recommender
    from unlearnkit.training.recsys import fit_recommender

    train, validation = interactions(0, 500), interactions(1, 120)
    model = Recommender(N_USERS, N_ITEMS, dim=8, layers=0)
    with torch.no_grad():
        model.user_embedding.normal_(0, 0.1, generator=torch.Generator().manual_seed(0))
        model.item_embedding.normal_(0, 0.1, generator=torch.Generator().manual_seed(1))
    fit_recommender(model, InteractionData("mine", *train, N_USERS, N_ITEMS), np.arange(500), REC_RECIPE,
                    torch.Generator().manual_seed(0))
    result = unlearnkit.unlearn(model, train, list(range(40)), method="finetune_rec", validation=validation,
                                recipe=REC_RECIPE, select="oracle_free", budget=3, seed=1)
    assert result.kind == "recommendation" and result.selection is not None
    trials = result.selection["trials"]
    assert len(trials) == 3 and all(t["criteria"]["retain_utility"] is None for t in trials)  # the kind's own criteria
    best = min((t for t in trials if t["feasible"]), key=lambda t: t["score"])
    assert result.selection["chosen"] == best["params"]
    assert all(result.params[k] == v for k, v in best["params"].items() if v is not None)
