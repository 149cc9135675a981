"""Experiment orchestration: configuration files, resolution into components, the runner."""

from unlearnkit.experiment.config import ExperimentConfig, load_config
from unlearnkit.experiment.runner import Runner, RunSummary

__all__ = ["ExperimentConfig", "RunSummary", "Runner", "load_config"]
