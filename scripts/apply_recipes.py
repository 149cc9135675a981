"""Replace the method blocks of a one-experiment benchmark config by the recipes `unlearnkit tune` selected.

Usage: python scripts/apply_recipes.py CONFIG.toml RECIPES.toml

Method blocks are matched by label (or name); blocks without a recipe (retrain,
original) and everything before the first method block are kept verbatim.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def blocks(text: str) -> tuple[str, list[str]]:
    parts = re.split(r"(?m)^(?=\[\[experiment\.methods\]\])", text)
    return parts[0], parts[1:]


def key(block: str) -> str:
    label = re.search(r'(?m)^label = "([^"]+)"', block)
    return label.group(1) if label else re.search(r'(?m)^name = "([^"]+)"', block).group(1)


def main(config_path: str, recipes_path: str) -> None:
    head, config_blocks = blocks(Path(config_path).read_text(encoding="utf-8"))
    _, recipe_blocks = blocks(Path(recipes_path).read_text(encoding="utf-8"))
    recipes = {key(b): b.rstrip() + "\n" for b in recipe_blocks}
    out = [recipes.get(key(b), b.rstrip() + "\n") for b in config_blocks]
    with open(config_path, "w", encoding="utf-8") as handle:
        handle.write(head + "\n".join(out))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
