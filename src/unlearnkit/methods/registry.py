"""Registry of unlearning methods (retraining included)."""

from __future__ import annotations

from unlearnkit.methods.base import UnlearningMethod
from unlearnkit.methods.basic import Finetune, NegGrad, NegGradPlus, RandomLabel, Retrain
from unlearnkit.methods.conv_transpose import ConvolutionTranspose
from unlearnkit.methods.fisher import FisherForgetting
from unlearnkit.methods.influence import InfluenceUnlearning
from unlearnkit.methods.last_k import CatastrophicForgettingK, ExactUnlearningK
from unlearnkit.methods.msg import MaskedSmallGradients
from unlearnkit.methods.ssd import SelectiveSynapticDampening
from unlearnkit.registry import Registry

METHODS: Registry[type[UnlearningMethod]] = Registry(
    "method",
    {
        "retrain": Retrain,
        "finetune": Finetune,
        "neggrad": NegGrad,
        "neggrad_plus": NegGradPlus,
        "random_label": RandomLabel,
        "ssd": SelectiveSynapticDampening,
        "cf_k": CatastrophicForgettingK,
        "eu_k": ExactUnlearningK,
        "fisher": FisherForgetting,
        "influence": InfluenceUnlearning,
        "msg": MaskedSmallGradients,
        "ct": ConvolutionTranspose,
    },
)
