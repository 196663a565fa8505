"""A small JSON Schema (2020-12) validator for the keywords vvrun's own schema uses.

Why not jsonschema at run time: importing it costs about as much as everything else `validate`
does (PERF-NOTES: 64 ms), and `vvrun validate one.yaml` must stay within 1.5× of
`python -c "import yaml, jsonschema"`. The schema is ours, so the keywords are known; a test
checks that this validator and jsonschema agree on every corpus file and on generated runbooks,
and `UNSUPPORTED` refuses a schema that uses anything else.

Errors carry the attributes of `jsonschema.ValidationError` that `schema.explain` reads:
`validator` (the keyword), `validator_value`, `instance`, `schema`, `absolute_path`,
`relative_schema_path`, `schema_path`, `context` and `message`.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

SUPPORTED = frozenset({
    "$defs", "$id", "$ref", "$schema", "additionalProperties", "const", "default",
    "description", "enum", "examples", "exclusiveMinimum", "format", "items", "maximum",
    "minItems", "minLength", "minProperties", "minimum", "oneOf", "pattern", "properties",
    "propertyNames", "required", "title", "type", "uniqueItems",
})


class SchemaError(Exception):
    """The schema uses a keyword this validator does not implement."""


class Error:
    """One failure, shaped like jsonschema's ValidationError (the parts vvrun reads)."""

    __slots__ = ("context", "instance", "message", "path", "relative_schema_path", "schema",
                 "validator", "validator_value")

    def __init__(self, keyword: str, value: Any, instance: Any, schema: Mapping[str, Any],
                 path: tuple[Any, ...], message: str, context: list[Error] | None = None):
        self.validator = keyword
        self.validator_value = value
        self.instance = instance
        self.schema = schema
        self.path = path
        self.relative_schema_path: deque[Any] = deque([keyword])
        self.message = message
        self.context = context or []

    @property
    def absolute_path(self) -> deque[Any]:
        return deque(self.path)

    @property
    def schema_path(self) -> deque[Any]:
        return self.relative_schema_path

    def __repr__(self) -> str:
        return f"<Error {self.validator} at {list(self.path)}: {self.message}>"


def _is_type(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if isinstance(value, bool):
        return False
    if kind == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, int | float)
    raise SchemaError(f"unknown type {kind!r}")


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


class Validator:
    """Validates instances against one schema (with its `$defs`); build once, reuse."""

    def __init__(self, schema: Mapping[str, Any], *, check: bool = True):
        """`check=False` skips refusing unknown keywords (for a schema a test has checked)."""
        self.schema = schema
        self.defs = schema.get("$defs", {})
        if check:
            check_keywords(schema)

    def iter_errors(self, instance: Any) -> Iterator[Error]:
        yield from self._errors(instance, self.schema, ())

    def is_valid(self, instance: Any) -> bool:
        return next(self.iter_errors(instance), None) is None

    def _errors(self, inst: Any, schema: Any, path: tuple[Any, ...]) -> Iterator[Error]:
        if schema is True:
            return
        if schema is False:
            yield Error("false", False, inst, {}, path, "nothing is allowed here")
            return
        ref = schema.get("$ref")
        if ref is not None:
            yield from self._errors(inst, self.defs[ref.rsplit("/", 1)[-1]], path)
        kind = schema.get("type")
        if kind is not None:
            kinds = [kind] if isinstance(kind, str) else kind
            if not any(_is_type(inst, k) for k in kinds):
                yield Error("type", kind, inst, schema, path,
                            f"{inst!r} is not of type {kind!r}")
                return
        if "const" in schema and not _equal(inst, schema["const"]):
            yield Error("const", schema["const"], inst, schema, path,
                        f"{schema['const']!r} was expected")
        if "enum" in schema and not any(_equal(inst, e) for e in schema["enum"]):
            yield Error("enum", schema["enum"], inst, schema, path,
                        f"{inst!r} is not one of {schema['enum']!r}")
        if isinstance(inst, str):
            yield from self._string(inst, schema, path)
        elif isinstance(inst, int | float) and not isinstance(inst, bool):
            yield from self._number(inst, schema, path)
        elif isinstance(inst, dict):
            yield from self._object(inst, schema, path)
        elif isinstance(inst, list):
            yield from self._array(inst, schema, path)
        if "oneOf" in schema:
            yield from self._one_of(inst, schema, path)

    def _string(self, inst: str, schema: Mapping[str, Any], path: tuple[Any, ...]
                ) -> Iterator[Error]:
        if "minLength" in schema and len(inst) < schema["minLength"]:
            yield Error("minLength", schema["minLength"], inst, schema, path,
                        f"{inst!r} is too short")
        if "pattern" in schema and not _regex(schema["pattern"]).search(inst):
            yield Error("pattern", schema["pattern"], inst, schema, path,
                        f"{inst!r} does not match {schema['pattern']!r}")
        if schema.get("format") == "regex":
            try:
                re.compile(inst)
            except re.error:
                yield Error("format", "regex", inst, schema, path,
                            f"{inst!r} is not a 'regex'")

    def _number(self, inst: float, schema: Mapping[str, Any], path: tuple[Any, ...]
                ) -> Iterator[Error]:
        # `not >=` and `not <=`: YAML's `.nan` is no number JSON can hold, and it is neither
        # below a minimum nor above a maximum; a bounded number must be a real one
        if "minimum" in schema and not inst >= schema["minimum"]:
            yield Error("minimum", schema["minimum"], inst, schema, path,
                        f"{inst!r} is less than the minimum of {schema['minimum']!r}")
        if "maximum" in schema and not inst <= schema["maximum"]:
            yield Error("maximum", schema["maximum"], inst, schema, path,
                        f"{inst!r} is greater than the maximum of {schema['maximum']!r}")
        if "exclusiveMinimum" in schema and inst <= schema["exclusiveMinimum"]:
            yield Error("exclusiveMinimum", schema["exclusiveMinimum"], inst, schema, path,
                        f"{inst!r} is not more than {schema['exclusiveMinimum']!r}")

    def _object(self, inst: dict[str, Any], schema: Mapping[str, Any], path: tuple[Any, ...]
                ) -> Iterator[Error]:
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties", True)
        if "propertyNames" in schema:
            names = schema["propertyNames"]
            for key in inst:
                for err in self._errors(key, names, path):
                    err.relative_schema_path.appendleft("propertyNames")
                    yield err
        if "required" in schema:
            missing = [k for k in schema["required"] if k not in inst]
            if missing:
                yield Error("required", schema["required"], inst, schema, path,
                            f"{missing[0]!r} is a required property")
        if "minProperties" in schema and len(inst) < schema["minProperties"]:
            yield Error("minProperties", schema["minProperties"], inst, schema, path,
                        f"{inst!r} does not have enough properties")
        unknown = []
        for key, value in inst.items():
            if key in props:
                yield from self._errors(value, props[key], (*path, key))
            elif extra is False:
                unknown.append(key)
            elif extra is not True:
                yield from self._errors(value, extra, (*path, key))
        if unknown:
            yield Error("additionalProperties", False, inst, schema, path,
                        f"Additional properties are not allowed ({', '.join(unknown)})")

    def _array(self, inst: list[Any], schema: Mapping[str, Any], path: tuple[Any, ...]
               ) -> Iterator[Error]:
        if "minItems" in schema and len(inst) < schema["minItems"]:
            yield Error("minItems", schema["minItems"], inst, schema, path,
                        f"{inst!r} should be non-empty" if schema["minItems"] == 1
                        else f"{inst!r} is too short")
        if schema.get("uniqueItems"):
            seen: list[Any] = []
            for item in inst:
                if any(_equal(item, s) and type(item) is type(s) for s in seen):
                    yield Error("uniqueItems", True, inst, schema, path,
                                f"{inst!r} has non-unique elements")
                    break
                seen.append(item)
        items = schema.get("items")
        if items is not None:
            for i, item in enumerate(inst):
                yield from self._errors(item, items, (*path, i))

    def _one_of(self, inst: Any, schema: Mapping[str, Any], path: tuple[Any, ...]
                ) -> Iterator[Error]:
        context: list[Error] = []
        matched = []
        for index, branch in enumerate(schema["oneOf"]):
            errs = list(self._errors(inst, branch, path))
            if not errs:
                matched.append(index)
            for err in errs:
                err.relative_schema_path.appendleft(index)
                context.append(err)
        if len(matched) == 1:
            return
        if not matched:
            yield Error("oneOf", schema["oneOf"], inst, schema, path,
                        f"{inst!r} is not valid under any of the given schemas", context)
        else:
            yield Error("oneOf", schema["oneOf"], inst, schema, path,
                        f"{inst!r} is valid under each of {matched}")


def check_keywords(schema: Any) -> None:
    """Raise SchemaError when `schema` uses a keyword this validator does not implement."""
    if isinstance(schema, bool):
        return
    unknown = set(schema) - SUPPORTED
    if unknown:
        raise SchemaError(f"unsupported keywords: {sorted(unknown)}")
    for key, value in schema.items():
        if key in ("properties", "$defs"):
            for sub in value.values():
                check_keywords(sub)
        elif key in ("items", "additionalProperties", "propertyNames") and isinstance(
                value, dict | bool):
            check_keywords(value)
        elif key == "oneOf":
            for sub in value:
                check_keywords(sub)
