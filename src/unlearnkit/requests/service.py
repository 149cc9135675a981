"""One deletion request from files to an audited checkpoint: what ``unlearnkit forget`` runs.

Order of work, so that a failure or a kill at any point leaves a consistent state:

1. every input is checked (store, ``--out``, factory, checkpoint fit, data,
   ids, method and parameters, recipe); a bad one raises before anything is
   written;
2. the method runs;
3. the new checkpoint is written to a hidden ``.partial`` file and flushed;
4. the audit record (with both checkpoints' SHA-256) is committed in one
   transaction;
5. the ``.partial`` file is renamed to ``--out``.

So ``--out`` never holds a partial checkpoint, a row is never half written,
and every checkpoint at an ``--out`` path has its record. A process killed
between 4 and 5 leaves a record whose output is missing, which
``unlearnkit audit verify`` reports.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from torch import nn

from unlearnkit.data.ids import check_ids, file_digest, ids_digest, read_id_file
from unlearnkit.errors import InvalidParameterError
from unlearnkit.models.recsys.embedding import Recommender
from unlearnkit.requests.base import DeletionResult
from unlearnkit.requests.files import (
    build_model,
    check_output_path,
    discard,
    load_factory,
    load_into,
    load_state,
    publish,
    read_arrays,
    write_partial,
)
from unlearnkit.requests.run import plan_request, run_request
from unlearnkit.requests.selection import check_selectable, check_selection
from unlearnkit.store.audit import AuditRecord, check_audit_store, request_with_output, write_audit
from unlearnkit.training.loop import TrainSpec
from unlearnkit.training.recsys import RecTrainSpec
from unlearnkit.version import __version__


@dataclass(frozen=True)
class RequestFiles:
    """The inputs of one request as ``unlearnkit forget`` names them."""

    model_factory: str
    checkpoint: str
    data: str
    forget_ids: str
    out: str
    store: str
    validation: str | None = None


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def make_recipe(model: nn.Module, params: dict[str, Any] | None) -> TrainSpec | RecTrainSpec | None:
    if params is None:
        return None
    if isinstance(model, Recommender):
        return RecTrainSpec.from_params(params, "--recipe")
    return TrainSpec.from_params(params, "--recipe")


def forget_from_files(
    files: RequestFiles,
    *,
    method: str,
    params: dict[str, Any],
    recipe: dict[str, Any] | None = None,
    forget_unit: str = "rows",
    seed: int = 0,
    factory: Callable[[], nn.Module] | None = None,
    select: str | None = None,
    budget: int | None = None,
    tolerance: float | None = None,
    training_seconds: float | None = None,
) -> tuple[AuditRecord, DeletionResult]:
    """Answer one request (see the module docstring); ``factory`` replaces importing ``files.model_factory``.

    ``select``, ``budget``, ``tolerance`` and ``training_seconds`` as for
    :func:`unlearnkit.unlearn`: the selection runs in step 2 and is kept in
    the record (``AuditRecord.selection``).
    """
    started, clock = now(), time.perf_counter()
    selection = check_selection(select, budget=budget, tolerance=tolerance, training_seconds=training_seconds)
    check_audit_store(files.store)
    check_output_path(files.out, files.checkpoint)
    factory = factory or load_factory(files.model_factory)
    model = build_model(factory, files.model_factory)
    load_into(model, load_state(files.checkpoint), files.checkpoint, files.model_factory)
    train = read_arrays(files.data, "--data")
    validation = read_arrays(files.validation, "--validation") if files.validation is not None else None
    unit_count = len(train[0])
    if isinstance(model, Recommender) and forget_unit == "users":
        unit_count = model.n_users
    what = "user id" if forget_unit == "users" else "training index"
    ids = check_ids(read_id_file(files.forget_ids, what=what), unit_count, files.forget_ids, what=what)
    adapter, plan = plan_request(
        model, train, ids, method=method, validation=validation, recipe=make_recipe(model, recipe),
        model_factory=None if isinstance(model, Recommender) else factory, forget_unit=forget_unit, seed=seed, params=params,
    )
    if selection is not None:
        check_selectable(plan, validation is not None)
    before, data_sha256 = file_digest(files.checkpoint), file_digest(files.data)
    parent = request_with_output(files.store, before)
    if parent is not None and parent.data_sha256 == data_sha256:
        raise InvalidParameterError(
            f"--checkpoint is the output of request {parent.request_id}, which deleted {parent.ids_count} example(s) from "
            f"this very --data file; they are still in it and would count as retained data: remove them from the data "
            f"first (ids index the data as it is now)"
        )
    result = run_request(adapter, plan, seed, selection)
    temporary = write_partial(result.model.state_dict(), files.out)
    try:
        record = AuditRecord(
            request_id=uuid.uuid4().hex,
            parent_id=None if parent is None else parent.request_id,
            kind=result.kind,
            method=result.method,
            params=result.params,
            recipe=recipe,
            seed=seed,
            forget_unit=forget_unit,
            ids_sha256=ids_digest(ids),
            ids_count=int(ids.size),
            model_factory=files.model_factory,
            data_path=files.data,
            data_sha256=data_sha256,
            validation_sha256=None if files.validation is None else file_digest(files.validation),
            checkpoint_path=files.checkpoint,
            checkpoint_before_sha256=before,
            output_path=files.out,
            checkpoint_after_sha256=file_digest(temporary),
            metrics=result.metrics,
            method_seconds=result.seconds,
            wall_seconds=time.perf_counter() - clock,
            started_at=started,
            finished_at=now(),
            version=__version__,
            selection=result.selection,
        )
        write_audit(files.store, record)
    except BaseException:
        discard(temporary)
        raise
    publish(temporary, files.out)
    return record, result

