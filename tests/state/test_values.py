"""What a state's values may be (state/values.py): each rule's regex (the fast path) refuses
exactly what its words (the models) refuse, and `ordinary` never clears a value a rule refuses."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence

import pytest

from reconciler.core.text import UNSAFE
from reconciler.state import values

EVERY_CHARACTER = [chr(code) for code in range(sys.maxunicode + 1)]
# Characters each rule treats apart, and some around them.
SPECIAL = sorted(
    {
        c
        for c in EVERY_CHARACTER[:0x10000]  # every unsafe one is below U+10000
        if UNSAFE.match(c) or c.isspace() or not c.isprintable()
    }
    - {chr(code) for code in range(0xE000, 0xF900)}  # private use: all alike
    | set("a.é☕😀")
)
SAMPLES = sorted(
    {*SPECIAL, ".", "..", "...", "", "a b", " a", "a ", "a\n", "a\tb", "\u00a0", " \u00a0 "}
    | {f"x{c}y" for c in SPECIAL}
    | {f"{c}x" for c in SPECIAL}
    | {f"x{c}" for c in SPECIAL}
)


def test_every_unsafe_character_is_not_printable() -> None:
    """`ordinary` relies on it: text that isprintable() holds no unsafe character."""
    assert all(not c.isprintable() for c in EVERY_CHARACTER if UNSAFE.match(c))


def test_a_regex_space_is_what_strip_removes() -> None:
    """The regexes' \\s and core/text's str.strip() agree on what whitespace is."""
    space = re.compile(r"\s")
    assert all(bool(space.match(c)) == c.isspace() for c in EVERY_CHARACTER)


@pytest.mark.parametrize(
    "field", sorted(values.ATTRIBUTE_REFUSED), ids=sorted(values.ATTRIBUTE_REFUSED)
)
def test_each_attributes_regex_refuses_what_its_words_refuse(field: str) -> None:
    regex = values.ATTRIBUTE_REFUSED[field]
    for sample in SAMPLES:
        worded = values.attribute_refusal(field, sample)
        assert (regex.search(sample) is not None) == (worded is not None), (field, sample)


def test_the_id_and_text_regexes_refuse_what_their_words_refuse() -> None:
    for sample in SAMPLES:
        assert (values.ID_REFUSED.search(sample) is None) == (values.id_refusal(sample) is None)
        text = values.TEXT_REFUSED.search(sample)
        assert (text is None) == (values.text_refusal(sample) is None), sample


def ordinary(texts: Sequence[object]) -> bool:
    return values.ordinary(iter(texts), len(texts))  # an iterator, as the codec passes


def test_ordinary_clears_only_what_no_rule_refuses() -> None:
    for sample in SAMPLES:
        if ordinary([sample]):
            refused = [values.attribute_refusal(f, sample) for f in values.ATTRIBUTE_REFUSED]
            assert values.id_refusal(sample) is None, sample
            assert refused == [None] * len(refused), sample
        for neighbours in (["a", sample], [sample, "b"], ["a", sample, "b"]):  # at any place
            assert ordinary(neighbours) == ordinary([sample]), (neighbours, sample)
    assert ordinary(["Acme", "SF-1", "https://acme.example", "Café ☕ 😀"])
    assert ordinary([])
    assert not ordinary(["Acme", 1])
    assert not ordinary(["a", ".", "b"])
    assert not ordinary([".."])
    assert not ordinary(["a", " b"])
    assert not ordinary(["a ", "b"])
    assert not ordinary(["a\x00b"])
    assert not ordinary(["a", "\x00", "b"])
    assert not ordinary(["a", "b\u00a0"])


def test_the_words_name_the_character() -> None:
    assert values.id_refusal("a\ud800") == "cannot hold U+D800, half of a UTF-16 surrogate pair"
    assert values.attribute_refusal("name", "a\x1b") == "cannot hold the character U+001B"
    assert values.attribute_refusal("description", "a\nb") is None
    assert values.attribute_refusal("website", "a\nb") == "cannot hold the character U+000A"
    assert values.attribute_refusal("client_id", "..") is not None
