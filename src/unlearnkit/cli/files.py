"""Writing an output file so that no reader, and no crash, ever sees half of it."""

from __future__ import annotations

import os

from unlearnkit.errors import UnlearnkitError


def check_output_path(path: str) -> None:
    """Refuse, before any work is done, an output path that could not be written."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UnlearnkitError(f"--output {path}: is a folder; give a file name")
    if not os.path.isdir(folder):
        raise UnlearnkitError(f"--output {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise UnlearnkitError(f"--output {path}: not writable")


def partial_path(path: str) -> str:
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{name}.partial")


def write_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``.NAME.partial`` next to ``path``, flush it to disk, then rename it over ``path``.

    A crash at any moment leaves the old file or the new one, never half of
    one. The temporary name is fixed, so the write that follows a killed one
    replaces what it left; it is removed when writing fails.
    """
    check_output_path(path)
    temporary = partial_path(path)
    try:
        with open(temporary, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except OSError as error:
        raise UnlearnkitError(f"--output {path}: cannot be written ({error.strerror})") from None
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
