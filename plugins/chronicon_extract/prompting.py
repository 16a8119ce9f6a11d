"""The prompts built from a schema: the whole JSON ask, the stricter retry, and the one-field questions."""

from __future__ import annotations

import json

from .schema import Field, Schema

_TYPE_HINTS = {"text": "a short text", "number": "a number", "boolean": "true or false"}


def describe_field(field: Field) -> str:
    what = f"one of {', '.join(field.values)}" if field.type == "categorical" else _TYPE_HINTS[field.type]
    required = " (required)" if field.required else ""
    description = f": {field.description}" if field.description else ""
    return f'- "{field.name}"{required}{description}. Answer with {what}.'


def _skeleton(schema: Schema) -> str:
    sample = {f.name: ("|".join(f.values) if f.type == "categorical" else f.type) for f in schema.fields}
    return json.dumps(sample, ensure_ascii=False)


def json_prompt(schema: Schema, frames: int = 1) -> str:
    """The instructions, each field with its allowed values, and the ask for one JSON object only."""
    seen = "these frames of one video" if frames > 1 else "this image"
    lines = [schema.prompt] if schema.prompt else []
    lines += [f"Look at {seen} and fill in these fields:", *(describe_field(f) for f in schema.fields)]
    lines.append(f"Answer with one JSON object only, shaped like {_skeleton(schema)}, and nothing else.")
    return "\n".join(lines)


def retry_prompt(schema: Schema, error: str, frames: int = 1) -> str:
    """The JSON ask again, stricter, with what was wrong with the previous answer."""
    return (
        json_prompt(schema, frames)
        + f"\nYour previous answer could not be read: {error}. Reply with ONLY a valid JSON object: double-quoted "
        "keys and strings, no code fences, no explanations, no trailing commas."
    )


def field_prompt(schema: Schema, field: Field, frames: int = 1) -> str:
    """One field at a time (constrained mode): the instructions and the single question."""
    seen = "these frames of one video" if frames > 1 else "this image"
    lines = [schema.prompt] if schema.prompt else []
    lines += [f"Look at {seen}.", describe_field(field), "Answer with the value only."]
    return "\n".join(lines)
