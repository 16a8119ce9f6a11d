"""Combined-query parsing: standalone + and - split terms; hyphenated words stay whole."""

from __future__ import annotations

import pytest

from chronicon.search.query import QueryError, QueryTerm, parse_query, positive_text


def test_plain_query_is_one_positive_term() -> None:
    assert parse_query("  dog jumping   into a lake ") == [QueryTerm("dog jumping into a lake", 1.0)]


def test_plus_and_minus_with_spaces_split_terms() -> None:
    assert parse_query("beach + sunset - people") == [
        QueryTerm("beach", 1.0),
        QueryTerm("sunset", 1.0),
        QueryTerm("people", -1.0),
    ]


def test_hyphens_and_pluses_inside_words_do_not_split() -> None:
    assert parse_query("t-shirt + well-known c++") == [QueryTerm("t-shirt", 1.0), QueryTerm("well-known c++", 1.0)]


def test_leading_minus_subtracts() -> None:
    assert parse_query("cat -dog") == [QueryTerm("cat -dog", 1.0)]  # no space after '-': part of the term
    assert parse_query("cat - dog") == [QueryTerm("cat", 1.0), QueryTerm("dog", -1.0)]


def test_only_subtracted_terms_or_empty_is_an_error() -> None:
    with pytest.raises(QueryError, match="empty"):
        parse_query("   ")
    with pytest.raises(QueryError, match="nothing to look for"):
        parse_query("-people")


def test_positive_text_drops_subtracted_words() -> None:
    assert positive_text(parse_query("beach + sunset - people")) == "beach sunset"
