"""Username rules: what a name may contain, and the skeleton two names must not share.

A name is stored NFKC-normalised (fullwidth and other compatibility forms become their plain
letters). It may hold letters, digits, combining marks and `_ . @ + -`, never an invisible or
format character, and its letters come from one script (Han may mix with kana or Hangul).
Uniqueness is by skeleton, held unique by the database: two names that casefold or look alike
under Unicode's confusables data (as shipped by `confusable_homoglyphs`) are the same name.
See docs/decisions/0008-username-skeletons.md.
"""

import functools
import json
import unicodedata
from pathlib import Path

import confusable_homoglyphs
from confusable_homoglyphs import categories

from leaderboard.errors import InvalidUsername

PUNCTUATION = frozenset("_.@+-")

# Default_Ignorable_Code_Point (Unicode DerivedCoreProperties) that are not format characters
# (category Cf, refused as a category): fillers and variation selectors render as nothing.
_IGNORABLE_RANGES = (
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x2800, 0x2800),  # BRAILLE PATTERN BLANK: not ignorable, but renders blank
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0),
    (0x1D173, 0x1D17A),
    (0xE0100, 0xE01EF),
)

# Scripts that one name may mix (UTS #39 "highly restrictive": Japanese, Korean, Chinese).
_SCRIPT_MIXES = (
    frozenset({"HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"HAN", "HANGUL"}),
    frozenset({"HAN", "BOPOMOFO"}),
)
_NEUTRAL_SCRIPTS = frozenset({"COMMON", "INHERITED"})


MAX_LENGTH = 150


def normalise(username: str) -> str:
    return unicodedata.normalize("NFKC", username)


def _is_invisible(char: str) -> bool:
    code = ord(char)
    if unicodedata.category(char)[0] in {"C", "Z"}:
        return True
    return any(low <= code <= high for low, high in _IGNORABLE_RANGES)


def _script(char: str) -> str:
    try:
        return str(categories.alias(char))
    except KeyError:  # a code point the data does not know
        return "UNKNOWN"


def check_username(username: str) -> str:
    """The name as it will be stored, or InvalidUsername saying what is wrong with it."""
    name = normalise(username)
    if not name:
        raise InvalidUsername("A username cannot be empty.")
    if len(name) > MAX_LENGTH:
        raise InvalidUsername(f"A username has at most {MAX_LENGTH} characters.")
    if any(_is_invisible(c) for c in name):
        raise InvalidUsername("A username cannot contain spaces, invisible or format characters.")
    for index, char in enumerate(name):
        category = unicodedata.category(char)
        if category[0] == "M" and index == 0:
            raise InvalidUsername("A username cannot start with a combining mark.")
        if not (category[0] in {"L", "M"} or category == "Nd" or char in PUNCTUATION):
            raise InvalidUsername("Letters, digits and @/./+/-/_ only.")
    scripts = {_script(c) for c in name if unicodedata.category(c)[0] == "L"} - _NEUTRAL_SCRIPTS
    if len(scripts) > 1 and not any(scripts <= mix for mix in _SCRIPT_MIXES):
        raise InvalidUsername("A username cannot mix letters of several scripts (e.g. Latin and Cyrillic).")
    return name


@functools.cache
def _prototypes() -> dict[str, str]:
    """Each confusable character -> the smallest code point among the characters it is confused with.

    The data links every character to its look-alikes both ways; its single-character links form
    groups (a prototype and the characters mapped to it), and one representative stands for each.
    """
    path = Path(confusable_homoglyphs.__file__).with_name("confusables.json")
    data: dict[str, list[dict[str, str]]] = json.loads(path.read_text(encoding="utf-8"))
    parent: dict[str, str] = {}

    def find(char: str) -> str:
        root = parent.setdefault(char, char)
        while root != parent[root]:
            root = parent[root]
        parent[char] = root
        return root

    for char, homoglyphs in data.items():
        for homoglyph in homoglyphs:
            other = homoglyph["c"].strip("\u200e\u200f")
            if len(char) == 1 and len(other) == 1:
                a, b = find(char), find(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    return {char: find(char) for char in parent}


def skeleton(username: str) -> str:
    """What the name looks like: NFKC, casefolded, each confusable character replaced by its group's one."""
    prototypes = _prototypes()
    folded = normalise(username).casefold()
    return "".join(prototypes.get(c, c) for c in folded).casefold()
