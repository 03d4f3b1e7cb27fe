"""A small JSON Schema subset: one source for request validation and for the OpenAPI document.

Requests are validated once, at the edge, by the schema of the command they carry (``imagegen.commands``).

Supported: type (incl. a list with "null"), properties, required, additionalProperties (false),
minLength, maxLength, pattern, minimum, maximum, multipleOf, enum, const, not, format (documentation
only). As in JSON Schema, a number with a zero fractional part is an integer (512.0 is 512).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from imagegen.errors import FieldError, ValidationError

Schema = dict[str, Any]

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}


# No control characters (C0, DEL, C1); ``MULTILINE_TEXT`` allows tab and line breaks.
SINGLE_LINE_TEXT = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
MULTILINE_TEXT = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"


def _is(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES[name])


@cache
def _pattern(expression: str) -> re.Pattern[str]:
    # JSON Schema's \uXXXX escapes are Python's too.
    return re.compile(expression)


def _valid(schema: Schema, value: Any) -> bool:
    errors: list[FieldError] = []
    _check(schema, value, "", errors)
    return not errors


def _check(schema: Schema, value: Any, path: str, errors: list[FieldError]) -> None:
    types = schema.get("type")
    if types is not None:
        names = types if isinstance(types, list) else [types]
        if not any(_is(value, n) for n in names):
            errors.append(FieldError(path or "body", f"must be {' or '.join(names)}"))
            return
    if value is None:
        return
    if "const" in schema and value != schema["const"]:
        errors.append(FieldError(path, f"must be {schema['const']!r}"))
    if "not" in schema and _valid(schema["not"], value):
        errors.append(FieldError(path, f"must not be {schema['not'].get('const', 'that')!r}"))
    if "enum" in schema and value not in schema["enum"]:
        errors.append(FieldError(path, f"must be one of {', '.join(map(str, schema['enum']))}"))
    if isinstance(value, str):
        if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
            errors.append(FieldError(path or "body", "must be valid Unicode (no lone surrogates)"))
            return
        if len(value) < schema.get("minLength", 0):
            errors.append(FieldError(path, f"must be at least {schema['minLength']} characters"))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(FieldError(path, f"must be at most {schema['maxLength']} characters"))
        if "pattern" in schema and not _pattern(schema["pattern"]).search(value):
            errors.append(FieldError(path, "must not contain control characters"))
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(FieldError(path, f"must be at least {schema['minimum']}"))
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(FieldError(path, f"must be at most {schema['maximum']}"))
        if "multipleOf" in schema and value % schema["multipleOf"]:
            errors.append(FieldError(path, f"must be a multiple of {schema['multipleOf']}"))
    if isinstance(value, dict):
        props: dict[str, Schema] = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors.append(FieldError(name if not path else f"{path}.{name}", "is required"))
        for name, item in value.items():
            sub = f"{path}.{name}" if path else name
            if name in props:
                _check(props[name], item, sub, errors)
            elif schema.get("additionalProperties", True) is False:
                errors.append(FieldError(sub, "is not a known field"))


def validate(schema: Schema, value: Any) -> dict[str, Any]:
    errors: list[FieldError] = []
    _check(schema, value, "", errors)
    if errors:
        raise ValidationError(errors)
    if not isinstance(value, dict):
        raise ValidationError.single("body", "must be a JSON object")
    # Integral floats of integer fields become ints (512.0 -> 512).
    props: dict[str, Schema] = schema.get("properties", {})
    return {
        k: int(v) if isinstance(v, float) and "integer" in _types(props.get(k, {})) else v
        for k, v in value.items()
    }


def _types(schema: Schema) -> list[str]:
    types = schema.get("type", [])
    return types if isinstance(types, list) else [types]


def string(
    max_length: int, *, min_length: int = 0, nullable: bool = False, multiline: bool = False, **extra: Any
) -> Schema:
    s: Schema = {
        "type": ["string", "null"] if nullable else "string",
        "maxLength": max_length,
        "pattern": MULTILINE_TEXT if multiline else SINGLE_LINE_TEXT,
        **extra,
    }
    if min_length:
        s["minLength"] = min_length
    return s


def obj(properties: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    s: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        s["required"] = list(required)
    return s
