"""Name -> component registries.

Registries are explicit tables built in each pipeline folder's ``registry.py``
(no registration at import time).  An unknown name raises an error that lists
what exists, computed from the table itself so it never goes stale.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

from unlearnkit.errors import UnknownNameError

T = TypeVar("T")


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
                f"unknown {self.kind} {name!r}; registered {self.kind}s: {', '.join(sorted(self._entries))}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)
