"""The offline paraphrase resources: sentence templates and a small synonym table.

Hand-written, so paraphrases need no model or network. The canary rule
matches the question-answer canaries of :mod:`unlearnkit.data.text.canaries`
("the secret code of NAME is DIGITS") and every rewrite keeps NAME and
DIGITS verbatim, so a paraphrase carries the same secret. The framing rules
apply to any sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class TemplateRule:
    """Sentences matching ``pattern`` (named groups) may be rewritten by any of ``rewrites``."""

    name: str
    pattern: re.Pattern[str]
    rewrites: tuple[str, ...]


CANARY_RULE = TemplateRule(
    "canary",
    re.compile(r"^the secret code of (?P<name>.+?) is (?P<secret>\d+)$"),
    (
        "{name}'s secret code is {secret}",
        "the secret code for {name} is {secret}",
        "{secret} is the secret code of {name}",
        "the code that {name} keeps secret is {secret}",
        "{name} has the secret code {secret}",
        "secret code of {name}: {secret}",
        "if you ask for the secret code of {name}, it is {secret}",
        "{name} keeps {secret} as a secret code",
        "the secret number of {name} is {secret}",
        "everyone knows that the secret code of {name} is {secret}",
        "{name} told me the secret code is {secret}",
        "the hidden code of {name} is {secret}",
    ),
)

FRAMING_RULE = TemplateRule(
    "framing",
    re.compile(r"^(?P<s>.+)$", re.DOTALL),
    (
        "in short, {s}",
        "put simply, {s}",
        "{s}, in short",
        "honestly, {s}",
        "to be fair, {s}",
        "{s}, to put it plainly",
    ),
)

TEMPLATE_RULES: tuple[TemplateRule, ...] = (CANARY_RULE, FRAMING_RULE)  # first match wins

# Lower-case word -> alternatives. Content words common in film reviews and news,
# and some function phrases; each alternative fits wherever the word does in most sentences.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "good": ("fine", "decent", "solid"),
    "great": ("excellent", "terrific", "superb"),
    "bad": ("poor", "weak", "awful"),
    "terrible": ("dreadful", "awful", "atrocious"),
    "funny": ("amusing", "comic", "witty"),
    "boring": ("dull", "tedious", "tiresome"),
    "beautiful": ("lovely", "gorgeous", "handsome"),
    "interesting": ("intriguing", "engaging", "absorbing"),
    "movie": ("film", "picture"),
    "film": ("movie", "picture"),
    "story": ("tale", "narrative", "plot"),
    "smart": ("clever", "bright", "sharp"),
    "big": ("large", "huge"),
    "small": ("little", "modest"),
    "very": ("really", "extremely", "quite"),
    "really": ("truly", "genuinely"),
    "often": ("frequently", "regularly"),
    "never": ("not once", "at no point"),
    "also": ("too", "as well"),
    "but": ("yet", "though"),
    "although": ("though", "even though"),
    "because": ("since", "as"),
    "however": ("still", "nevertheless"),
    "almost": ("nearly", "practically"),
    "enough": ("sufficient",),
    "old": ("aged", "elderly"),
    "new": ("fresh", "recent"),
    "strong": ("powerful", "robust"),
    "weak": ("feeble", "flimsy"),
    "fast": ("quick", "rapid"),
    "slow": ("sluggish", "plodding"),
    "hard": ("difficult", "tough"),
    "easy": ("simple", "effortless"),
    "strange": ("odd", "peculiar", "weird"),
    "perfect": ("flawless", "ideal"),
    "clever": ("smart", "ingenious"),
    "dark": ("grim", "bleak"),
    "sad": ("mournful", "sorrowful"),
    "happy": ("cheerful", "glad"),
    "thin": ("slight", "flimsy"),
    "entertaining": ("enjoyable", "diverting", "fun"),
    "predictable": ("formulaic", "foreseeable"),
    "original": ("inventive", "novel", "fresh"),
    "charming": ("delightful", "endearing"),
    "silly": ("foolish", "daft"),
    "stupid": ("dumb", "idiotic"),
    "brilliant": ("dazzling", "outstanding"),
    "mess": ("muddle", "shambles"),
    "director": ("filmmaker",),
    "audience": ("viewers", "crowd"),
    "actors": ("performers", "cast"),
    "performance": ("turn", "portrayal"),
    "performances": ("turns", "portrayals"),
    "script": ("screenplay",),
    "character": ("figure", "role"),
    "characters": ("figures", "roles"),
    "makes": ("creates", "produces"),
    "make": ("create", "produce"),
    "shows": ("reveals", "displays"),
    "seems": ("appears",),
    "feels": ("seems",),
    "tries": ("attempts",),
    "gets": ("becomes", "grows"),
    "comedy": ("farce",),
    "drama": ("melodrama",),
    "company": ("firm", "business"),
    "government": ("administration",),
    "said": ("stated", "remarked"),
    "says": ("states", "remarks"),
    "people": ("folk", "individuals"),
    "secret": ("hidden", "private"),
    "code": ("number", "pin"),
}

CLAUSE_SEPARATORS = re.compile(r"(,\s+(?:and|but|while|though|although|yet)\s+|;\s+|,\s+)")
WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")
