"""Recommendation unlearning methods (task kind "recommendation")."""

from unlearnkit.methods.recsys.basic import (
    FinetuneRec,
    NegGradRec,
    OriginalRec,
    RetrainRec,
)
from unlearnkit.methods.recsys.ifru import Ifru, InfluenceRec
from unlearnkit.methods.recsys.scif import Scif
from unlearnkit.methods.recsys.sharded import RecEraser, Sisa
from unlearnkit.methods.recsys.task import (
    RecommendationMethod,
    RecommendationTask,
    train_original,
)

RECOMMENDATION_METHODS = {
    "retrain_rec": RetrainRec,
    "original_rec": OriginalRec,
    "finetune_rec": FinetuneRec,
    "neggrad_rec": NegGradRec,
    "influence_rec": InfluenceRec,
    "ifru": Ifru,
    "scif": Scif,
    "sisa": Sisa,
    "receraser": RecEraser,
}

__all__ = [
    "RECOMMENDATION_METHODS",
    "FinetuneRec",
    "Ifru",
    "InfluenceRec",
    "NegGradRec",
    "OriginalRec",
    "RecEraser",
    "RecommendationMethod",
    "RecommendationTask",
    "RetrainRec",
    "Scif",
    "Sisa",
    "train_original",
]
