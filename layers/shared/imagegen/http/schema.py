"""A small JSON Schema subset: one source for request validation and for the OpenAPI document.

Supported: type (incl. a list with "null"), properties, required, additionalProperties (false),
minLength, maxLength, minimum, maximum, multipleOf, enum, format (documentation only).
"""

from __future__ import annotations

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


def _is(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[name])


def _check(schema: Schema, value: Any, path: str, errors: list[FieldError]) -> None:
    types = schema.get("type")
    if types is not None:
        names = types if isinstance(types, list) else [types]
        if not any(_is(value, n) for n in names):
            errors.append(FieldError(path or "body", f"must be {' or '.join(names)}"))
            return
    if value is None:
        return
    if "enum" in schema and value not in schema["enum"]:
        errors.append(FieldError(path, f"must be one of {', '.join(map(str, schema['enum']))}"))
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errors.append(FieldError(path, f"must be at least {schema['minLength']} characters"))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(FieldError(path, f"must be at most {schema['maxLength']} characters"))
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
    return value


def string(max_length: int, *, min_length: int = 0, nullable: bool = False, **extra: Any) -> Schema:
    s: Schema = {"type": ["string", "null"] if nullable else "string", "maxLength": max_length, **extra}
    if min_length:
        s["minLength"] = min_length
    return s


def obj(properties: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    s: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        s["required"] = list(required)
    return s
