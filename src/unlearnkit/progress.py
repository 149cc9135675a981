"""Progress reporting without global state: the caller passes a reporter in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # rich is imported by the caller that wants bars; this module only names its type
    import rich.progress


class ProgressTask(Protocol):
    def advance(self, steps: int = 1) -> None: ...


class Progress(Protocol):
    def task(self, description: str, total: int) -> AbstractContextManager[ProgressTask]: ...


class _SilentTask:
    def advance(self, steps: int = 1) -> None:
        return None


class SilentProgress:
    """The default reporter: reports nothing."""

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[ProgressTask]:
        yield _SilentTask()


class RichProgress:
    """Progress bars on the terminal via ``rich``; one bar per training or unlearning run."""

    def __init__(self, progress: rich.progress.Progress) -> None:
        self._progress = progress

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[ProgressTask]:
        task_id = self._progress.add_task(description, total=total)
        progress = self._progress

        class _Task:
            def advance(self, steps: int = 1) -> None:
                progress.advance(task_id, steps)

        try:
            yield _Task()
        finally:
            progress.remove_task(task_id)
