"""Turning a model's answer into a JSON object: strict parse first, then repairs of the usual ways answers break."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from chronicon.api import ChroniconError

_FENCE = re.compile(r"```[A-Za-z0-9_-]*\s*\n?(.*?)(?:```|$)", re.DOTALL)
_NUMBER = re.compile(r"^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$")
_LITERALS = {"true": "true", "false": "false", "none": "null", "null": "null", "nan": "null"}
_STRUCTURE = set(",:{}[]\"'")
_CLOSERS = {"{": "}", "[": "]"}
_DANGLING_KEY = re.compile(r',?\s*"(?:[^"\\]|\\.)*"\s*$')
_MAX_STARTS = 8


class AnswerError(ChroniconError):
    """An answer that holds no JSON object, even after repairs; the message says why (it goes into the retry)."""


@dataclass(frozen=True)
class Parsed:
    """A JSON object from an answer, and whether it needed repairs to read."""

    data: dict[str, Any]
    repaired: bool


def _read_string(text: str, start: int) -> tuple[str, int]:
    """A quoted string (single or double quotes) from `start` as a JSON string, and the index after it; an
    unterminated string (a truncated answer) is closed at the end of the text."""
    quote = text[start]
    parts: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            parts.append("'" if nxt == "'" else text[i : i + 2])
            i += 2
            continue
        if ch == quote:
            return '"' + "".join(parts) + '"', i + 1
        parts.append({'"': '\\"', "\n": "\\n", "\t": "\\t", "\r": ""}.get(ch, ch))
        i += 1
    return '"' + "".join(parts).rstrip("\\") + '"', i


def _bare(word: str) -> str:
    """A bare word as JSON: numbers and literals (True/False/None) as they are, anything else quoted."""
    literal = _LITERALS.get(word.lower())
    if literal:
        return literal
    return word if _NUMBER.match(word) else json.dumps(word)


def _rebuild(text: str) -> tuple[str, list[str]]:
    """The object starting at text[0] rewritten as JSON, up to its closing brace; and the brackets still open."""
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "\"'":
            token, i = _read_string(text, i)
            out.append(token)
            continue
        if ch in "{[":
            stack.append(ch)
            out.append(ch)
        elif ch in "}]":
            while out and out[-1] in (",", " "):  # trailing commas
                out.pop()
            if stack:
                out.append(_CLOSERS[stack.pop()])
            if not stack:
                return "".join(out), []
        elif ch in ",:":
            out.append(ch)
        elif ch.isspace():
            if out and out[-1] != " ":
                out.append(" ")
        else:
            end = i
            while end < len(text) and text[end] not in _STRUCTURE and text[end] != "\n":
                end += 1
            word = text[i:end].strip()
            if word:
                out.append(_bare(word))
            i = max(end, i + 1)
            continue
        i += 1
    return "".join(out), stack


def _close(body: str, stack: list[str]) -> str:
    """A truncated object closed: a dangling comma, colon or key dropped, open brackets closed."""
    body = body.rstrip(" ,")
    if body.endswith(":"):
        body = _DANGLING_KEY.sub("", body[:-1].rstrip())
    elif stack and stack[-1] == "{" and body.endswith('"'):
        # `{"a": 1, "b"` ends with a key without a value; `{"a": "x"` ends with a value: keep that one
        trial = body + "".join(_CLOSERS[s] for s in reversed(stack))
        try:
            json.loads(trial)
        except ValueError:
            body = _DANGLING_KEY.sub("", body)
    return body.rstrip(" ,") + "".join(_CLOSERS[s] for s in reversed(stack))


def _unfence(text: str) -> str:
    fenced = _FENCE.findall(text)
    return "\n".join(fenced) if fenced else text


def repair(text: str) -> dict[str, Any]:
    """The JSON object in a broken answer, or AnswerError: code fences and prose around it dropped, single quotes,
    trailing commas, unquoted keys and Python literals fixed, a truncated object closed."""
    body = _unfence(text).strip()
    starts = [m.start() for m in re.finditer(r"\{", body)][:_MAX_STARTS]
    if not starts:
        if ":" not in body:
            raise AnswerError("the answer holds no JSON object (no '{')")
        starts, body = [0], "{" + body + "}"
    last = "no JSON object"
    for start in starts:
        rebuilt, stack = _rebuild(body[start:])
        candidate = _close(rebuilt, stack) if stack else rebuilt
        try:
            data = json.loads(candidate)
        except ValueError as exc:
            last = f"invalid JSON ({exc})"
            continue
        if isinstance(data, dict) and data:
            return data
        last = "an empty object" if isinstance(data, dict) else f"expected a JSON object, got {type(data).__name__}"
    raise AnswerError(f"the answer is not a JSON object even after repairs: {last}")


def parse_answer(text: str) -> Parsed:
    """The JSON object of an answer: as it is when it parses, else repaired (AnswerError when that fails too)."""
    try:
        data = json.loads(text.strip())
    except ValueError:
        pass
    else:
        if isinstance(data, dict):
            return Parsed(data, repaired=False)
    return Parsed(repair(text), repaired=True)
