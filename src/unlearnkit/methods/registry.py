"""Registry of unlearning methods (retraining included)."""

from __future__ import annotations

from unlearnkit.methods.amnesiac import Amnesiac
from unlearnkit.methods.bad_teacher import BadTeacher
from unlearnkit.methods.base import UnlearningMethod
from unlearnkit.methods.basic import (
    Finetune,
    NegGrad,
    NegGradPlus,
    Original,
    RandomLabel,
    Retrain,
)
from unlearnkit.methods.boundary_shrink import BoundaryShrink
from unlearnkit.methods.conv_transpose import ConvolutionTranspose
from unlearnkit.methods.dlfd import DLFD
from unlearnkit.methods.fisher import FisherForgetting
from unlearnkit.methods.heldout_match import HeldoutMatch
from unlearnkit.methods.influence import InfluenceUnlearning
from unlearnkit.methods.l1_sparse import L1Sparse
from unlearnkit.methods.language_model import LANGUAGE_MODEL_METHODS
from unlearnkit.methods.last_k import CatastrophicForgettingK, ExactUnlearningK
from unlearnkit.methods.msg import MaskedSmallGradients
from unlearnkit.methods.recsys import RECOMMENDATION_METHODS
from unlearnkit.methods.salun import SalUn
from unlearnkit.methods.scrub import Scrub
from unlearnkit.methods.ssd import SelectiveSynapticDampening
from unlearnkit.methods.unsir import Unsir
from unlearnkit.registry import Registry

METHODS: Registry[type[UnlearningMethod]] = Registry(
    "method",
    {
        "retrain": Retrain,
        "original": Original,
        "finetune": Finetune,
        "neggrad": NegGrad,
        "neggrad_plus": NegGradPlus,
        "random_label": RandomLabel,
        "l1_sparse": L1Sparse,
        "salun": SalUn,
        "scrub": Scrub,
        "bad_teacher": BadTeacher,
        "amnesiac": Amnesiac,
        "unsir": Unsir,
        "boundary_shrink": BoundaryShrink,
        "ssd": SelectiveSynapticDampening,
        "cf_k": CatastrophicForgettingK,
        "eu_k": ExactUnlearningK,
        "fisher": FisherForgetting,
        "influence": InfluenceUnlearning,
        "msg": MaskedSmallGradients,
        "ct": ConvolutionTranspose,
        "dlfd": DLFD,
        "heldout_match": HeldoutMatch,
        **RECOMMENDATION_METHODS,
        **LANGUAGE_MODEL_METHODS,
    },
)
