"""Exception hierarchy.

Every error a user can cause derives from :class:`UnlearnkitError`; the CLI maps
those to exit code 2 and prints only the message.  Where a built-in exception
type has the same meaning the error also subclasses it, so callers can catch
either (``except ValueError`` keeps working).
"""

from __future__ import annotations


class UnlearnkitError(Exception):
    """Base class of every error caused by user input."""


class InvalidParameterError(UnlearnkitError, ValueError, TypeError):
    """A hyper-parameter or option has a value outside what is allowed."""


class UnsuitableSettingError(InvalidParameterError):
    """A valid hyper-parameter setting that fails on this model and data (found only while running).

    A hyper-parameter search records such a setting as unusable instead of stopping.
    """


class TrainingDivergedError(UnsuitableSettingError, FloatingPointError):
    """Training or a solve under a setting made the parameters non-finite (a learning rate too high, a damping too low).

    An unsuitable setting found while running; ``except FloatingPointError`` keeps catching it.
    """


class UnknownNameError(UnlearnkitError, KeyError):
    """A registry lookup used a name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class SplitError(UnlearnkitError, ValueError):
    """A train/retain/forget/validation/test split violates its invariants."""


class ConfigError(UnlearnkitError, ValueError):
    """A configuration file is malformed; ``problems`` lists every problem found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        if len(self.problems) == 1:  # one problem, one line
            super().__init__(f"{source}: {self.problems[0]}")
            return
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problems in the configuration:\n{lines}")


class DataUnavailableError(UnlearnkitError, FileNotFoundError):
    """A dataset's files are not installed; the message says how to install them."""


class MissingReferenceError(UnlearnkitError, LookupError):
    """A metric needs the retrained reference (or another input) that was not provided."""


class StoreError(UnlearnkitError):
    """A store file cannot be used: missing, not an unlearnkit store, damaged, from a newer schema, or not writable.

    The message names the path and the problem.
    """


class ModelStructureError(UnlearnkitError, AttributeError):
    """A method needs a model structure (features, head, blocks, a fresh copy) that the given model does not expose.

    The message names what the method needs and how to provide it. It is an
    ``AttributeError`` too, so ``hasattr`` probes read it as "not there".
    """


class MissingRecipeError(UnlearnkitError, AttributeError):
    """A method needs the training recipe the original was made with, and none was given."""
