"""What a forget sample's output should look like if the model had never seen it.

For random forgetting, a model retrained without the forget set treats the
forget samples like any unseen sample of the same distribution: a retrained
CNN on Fashion-MNIST classifies them about as well as test samples and is
about as (un)confident. The model's outputs on the *validation* set (never
trained on) show that distribution. :func:`heldout_targets` turns it into one
target distribution per forget sample:

* true-class confidence: the forget samples of each class are ranked by the
  original's true-class logit margin (hardest first) and given the
  validation confidences of that class at the same quantiles, so the forget
  set's confidence distribution equals the validation set's, and the samples
  the original finds hardest get the lowest confidences;
* the remaining probability mass goes to the other classes in the
  proportions of the original's softmax over them, so a forget sample whose
  target confidence is low is pushed toward the class the original already
  finds most similar.

A forget class with no validation sample gets, if no retain sample of it is
left either (the whole class is forgotten), true-class confidence 0: a model
retrained without the class never predicts it. Otherwise (validation happens
to hold none of it, e.g. the split moved the forget distribution out of
validation) it gets the quantiles of the whole validation set.

On the fmnist_random_10k tuning split (split seed 1), the original's margin
ranks the forget samples by the retrained model's confidence with Spearman
0.86, and the original's second class is the retrained model's prediction for
82 % of the forget samples it gets wrong (two tuning seeds; measured with the
retrained model of the tuning seeds only).
"""

from __future__ import annotations

import torch

from unlearnkit.errors import InvalidParameterError


def true_class_margin(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """True-class logit minus the largest other logit, per row."""
    rows = torch.arange(len(labels))
    others = logits.clone()
    others[rows, labels] = -float("inf")
    return logits[rows, labels] - others.max(dim=1).values


def matched_confidences(
    forget_logits: torch.Tensor,
    forget_labels: torch.Tensor,
    validation_logits: torch.Tensor,
    validation_labels: torch.Tensor,
    retain_labels: torch.Tensor,
) -> torch.Tensor:
    """Per forget sample, the validation true-class confidence of its class at its margin rank's quantile.

    A class with no validation sample gets 0 when no retain sample has it
    either, else the whole validation set's quantiles (module docstring).
    """
    if len(validation_labels) == 0:
        raise InvalidParameterError("held-out targets need validation samples; the task's validation set is empty")
    validation_confidence = torch.softmax(validation_logits, dim=1)[torch.arange(len(validation_labels)), validation_labels]
    margin = true_class_margin(forget_logits, forget_labels)
    confidence = torch.empty(len(forget_labels))
    for label in torch.unique(forget_labels):
        members = torch.nonzero(forget_labels == label).flatten()
        reference = validation_confidence[validation_labels == label]
        if len(reference) == 0 and not bool((retain_labels == label).any()):
            confidence[members] = 0.0
            continue
        if len(reference) == 0:
            reference = validation_confidence
        hardest_first = members[torch.argsort(margin[members], stable=True)]
        quantiles = (torch.arange(len(members), dtype=torch.float32) + 0.5) / len(members)
        confidence[hardest_first] = torch.quantile(reference.float(), quantiles)
    return confidence


def heldout_targets(
    forget_logits: torch.Tensor,
    forget_labels: torch.Tensor,
    validation_logits: torch.Tensor,
    validation_labels: torch.Tensor,
    retain_labels: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(target distributions, target true-class confidences) of the forget samples; see the module docstring."""
    confidence = matched_confidences(forget_logits, forget_labels, validation_logits, validation_labels, retain_labels)
    rows = torch.arange(len(forget_labels))
    others = forget_logits.clone()
    others[rows, forget_labels] = -float("inf")
    targets = torch.softmax(others, dim=1) * (1.0 - confidence)[:, None]
    targets[rows, forget_labels] = confidence
    return targets, confidence
