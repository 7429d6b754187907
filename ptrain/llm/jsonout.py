"""Structured output from small models: find the JSON in a reply and check it against a schema.

Small models wrap JSON in prose or code fences, or stop mid-object. ``extract_json`` returns the
first complete JSON object (or array) in the text; ``check_schema`` implements the part of JSON
Schema that prompt outputs use (type, properties, required, enum, items, additionalProperties)
and returns a list of problems, so a caller can retry once with them.
"""

from __future__ import annotations

import json
from typing import Any

from ptrain.errors import ModelError

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def extract_json(text: str) -> Any:
    """The first JSON object or array in ``text``; raises ``ValueError`` if there is none."""
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch in "{[":
            try:
                value, _ = decoder.raw_decode(text, i)
            except ValueError:
                continue
            return value
    raise ValueError("no JSON object in the reply")


def check_schema(value: Any, schema: dict, path: str = "$") -> list[str]:
    problems: list[str] = []
    expected = schema.get("type")
    if expected is not None:
        names = expected if isinstance(expected, list) else [expected]
        ok = any(
            isinstance(value, _TYPES.get(n, (object,)))
            and not (n in ("integer", "number") and isinstance(value, bool))
            for n in names
        )
        if not ok:
            return [f"{path}: expected {'/'.join(names)}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                problems.append(f"{path}: missing required key {key!r}")
        for key, sub in props.items():
            if key in value:
                problems += check_schema(value[key], sub, f"{path}.{key}")
        if schema.get("additionalProperties") is False:
            extra = sorted(set(value) - set(props))
            if extra:
                problems.append(f"{path}: unexpected keys {extra}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            problems += check_schema(item, schema["items"], f"{path}[{i}]")
    return problems


def parse_json_reply(text: str, schema: dict | None) -> dict | list:
    """Extract and validate; raises ``ModelError`` naming the first problems."""
    try:
        value = extract_json(text)
    except ValueError as e:
        raise ModelError(
            f"the model did not return JSON: {text[:80]!r}",
            "use a stronger model or simplify the schema",
        ) from e
    if schema:
        problems = check_schema(value, schema)
        if problems:
            raise ModelError(
                f"the model's JSON does not match the schema: {'; '.join(problems[:3])}",
                "use a stronger model or simplify the schema",
            )
    return value
