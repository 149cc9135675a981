"""Name -> component registries.

Registries are explicit tables built in each pipeline folder's ``registry.py``
(no registration at import time).  An unknown name raises an error that lists
what exists, computed from the table itself so it never goes stale.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from typing import Generic, TypeVar

from unlearnkit.errors import UnknownNameError

T = TypeVar("T")


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known name (difflib), or an empty string when none is close."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Registry(Generic[T], Mapping[str, T]):
    """An immutable mapping from component names to components."""

    def __init__(self, kind: str, entries: Mapping[str, T]) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        for name, entry in entries.items():
            self.register(name, entry)

    def register(self, name: str, entry: T, *, force: bool = False) -> None:
        """Add ``entry`` under ``name``; refuses to replace an entry unless ``force``."""
        if not name or not name.replace("_", "").isalnum() or name != name.lower():
            raise ValueError(f"{self.kind} names must be lower_snake_case, got {name!r}")
        if name in self._entries and not force:
            raise ValueError(f"a {self.kind} named {name!r} is already registered")
        self._entries[name] = entry

    def __getitem__(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}{did_you_mean(name, self._entries)}; "
                f"registered {self.kind}s: {', '.join(sorted(self._entries))}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)
