"""Combined text queries: "beach + sunset - people" is a weighted sum of the embeddings of its parts."""

from __future__ import annotations

import re
from dataclasses import dataclass

from chronicon.errors import QueryError

# An operator only counts with spaces around it, so "t-shirt", "x+y" and "well-known" stay one term.
_SPLIT = re.compile(r"\s+([+-])\s+")


@dataclass(frozen=True)
class QueryTerm:
    text: str
    weight: float  # +1 adds the concept, -1 subtracts it


def parse_query(query: str) -> list[QueryTerm]:
    """Split a query on standalone + and - into signed terms; a leading '-' (e.g. "-people") subtracts too."""
    text = " ".join(query.split())
    if not text:
        raise QueryError("the search query is empty")
    parts = _SPLIT.split(" " + text + " ")
    terms: list[QueryTerm] = []
    sign = 1.0
    for index, part in enumerate(parts):
        if index % 2 == 1:
            sign = 1.0 if part == "+" else -1.0
            continue
        chunk = part.strip()
        if not chunk:
            continue
        weight = sign
        if chunk.startswith("-") and len(chunk) > 1 and chunk[1] != "-":
            chunk, weight = chunk[1:].strip(), -sign
        elif chunk.startswith("+") and len(chunk) > 1:
            chunk = chunk[1:].strip()
        if chunk:
            terms.append(QueryTerm(chunk, weight))
        sign = 1.0
    if not any(t.weight > 0 for t in terms):
        raise QueryError(f"the query {query!r} has nothing to look for (only subtracted terms)")
    return terms


def positive_text(terms: list[QueryTerm]) -> str:
    """The words that are looked for (for full-text matching), without the subtracted ones."""
    return " ".join(t.text for t in terms if t.weight > 0)


__all__ = ["QueryError", "QueryTerm", "parse_query", "positive_text"]
