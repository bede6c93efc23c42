"""Pydantic JSON Schema -> a structural OpenAPI v3 schema for a CustomResourceDefinition.

Kubernetes wants every node typed, no ``$ref``, ``nullable`` instead of ``anyOf [..., null]``, OpenAPI 3.0
``exclusiveMinimum: true`` next to ``minimum``; titles are dropped, descriptions kept for ``kubectl explain``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

_KEEP = {
    "type",
    "description",
    "default",
    "enum",
    "format",
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "required",
    "properties",
    "items",
    "additionalProperties",
    "nullable",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "uniqueItems",
}


class UnstructuralSchema(ValueError):
    """The model uses a construct a structural CRD schema cannot express (e.g. a union of types)."""


def openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    definitions = raw.pop("$defs", {})
    return _convert(raw, definitions, path=model.__name__)


def _convert(node: dict[str, Any], definitions: dict[str, Any], path: str) -> dict[str, Any]:
    node = dict(node)
    if "$ref" in node:  # inline the definition; the field's own description/default win
        target = definitions[node.pop("$ref").rsplit("/", 1)[-1]]
        return {**_convert(target, definitions, path), **_convert(node, definitions, path)}
    if "allOf" in node and len(node["allOf"]) == 1:
        inner = _convert(node.pop("allOf")[0], definitions, path)
        return {**inner, **_convert(node, definitions, path)}
    if "anyOf" in node:
        variants = node.pop("anyOf")
        concrete = [v for v in variants if v.get("type") != "null"]
        if len(concrete) != 1:
            raise UnstructuralSchema(f"{path}: a union of {len(concrete)} types is not structural")
        inner = _convert(concrete[0], definitions, path)
        merged = {**inner, **_convert(node, definitions, path)}
        if len(concrete) < len(variants):
            merged["nullable"] = True
        if merged.get("default", "") is None:
            merged.pop("default")
        return merged
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if "patternProperties" in node:  # a map with constrained keys: the values' schema; the operator's model
        (values,) = node.pop("patternProperties").values()  # checks the keys (an InvalidSpec condition)
        node.setdefault("additionalProperties", values)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key not in _KEEP:
            continue
        if key == "properties":
            out[key] = {
                name: _convert(schema, definitions, f"{path}.{name}") for name, schema in value.items()
            }
        elif key == "items":
            out[key] = _convert(value, definitions, f"{path}[]")
        elif key == "additionalProperties":
            if isinstance(value, dict):
                out[key] = _convert(value, definitions, f"{path}{{}}")
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            out[bound] = value
            out[key] = True
        else:
            out[key] = value
    if "properties" in out or "additionalProperties" in out:
        out.setdefault("type", "object")
    if "type" not in out and "enum" in out:
        out["type"] = "string"
    return out
