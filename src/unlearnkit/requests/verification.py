"""The evidence a deletion request records: accuracy and loss per split, and a loss-threshold membership attack.

Read from a kind's stored outputs (per-split logits and labels), so the same
numbers come out for every kind: a recommender's rows are stored as two-class
logits ``[0, s]``, whose accuracy is the 0.5-threshold accuracy and whose
cross-entropy is the row's binary cross-entropy.

* ``{split}_accuracy``, ``{split}_loss`` (mean cross-entropy) for forget,
  retain and validation, where the split has examples;
* ``mia_auc``: ROC-AUC of the loss-threshold attack telling forget examples
  (members before the request) from validation examples (never trained on).
  After a successful deletion the forget examples should look like unseen
  ones: AUC near 0.5, or near what a model retrained without them gives
  (which this single-model check cannot know; see ``benchmarks/`` for that
  comparison).
"""

from __future__ import annotations

import numpy as np

from unlearnkit.kinds.base import StoredOutputs
from unlearnkit.metrics import functional as fn
from unlearnkit.metrics.attacks import loss_threshold_mia_auc

SPLITS = ("forget", "retain", "validation")


def verification_metrics(outputs: StoredOutputs) -> dict[str, float]:
    metrics: dict[str, float] = {}
    losses: dict[str, np.ndarray] = {}
    for split in SPLITS:
        if split not in outputs or len(outputs[split][1]) == 0:
            continue
        logits, labels = outputs[split]
        losses[split] = fn.per_example_loss(logits, labels)
        metrics[f"{split}_accuracy"] = fn.accuracy(logits, labels)
        metrics[f"{split}_loss"] = float(losses[split].mean())
    if "forget" in losses and "validation" in losses:
        metrics["mia_auc"] = loss_threshold_mia_auc(losses["forget"], losses["validation"])
    return metrics
