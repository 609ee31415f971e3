"""Helpers for JSON values: lone surrogates made readable wherever they are nested."""

from __future__ import annotations

from labthings.core.jsonvalues import is_text, json_text, with_clean_text


def test_with_clean_text_replaces_lone_surrogates_in_strings_and_keys_at_any_depth() -> None:
    value = {"a\udc80": ["ok", ("x\ud800", 1.5)], "n": None, "t": True}
    cleaned = with_clean_text(value)
    assert cleaned == {"a\ufffd": ["ok", ["x\ufffd", 1.5]], "n": None, "t": True}
    assert json_text(cleaned)  # now sendable
    assert value["a\udc80"][1] == ("x\ud800", 1.5)  # the original is not changed


def test_is_text_tells_a_lone_surrogate_from_a_pair() -> None:
    assert is_text("plain") and is_text("é \U0001f600")
    assert not is_text("a \ud800 b") and not is_text("\udfff")
