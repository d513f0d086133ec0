"""Checkbox's own OpenAPI description as JSON Schemas: what tills generated from it accept as an answer.

tests/reference/checkbox-openapi.json is Checkbox's published document (version 0.1.79, the copy of
../shared/reference/checkbox/openapi.json kept in the repository so that CI validates against it too). It is
OpenAPI 3.0 written by FastAPI, so it is read as Draft 4 JSON Schema with three adjustments that say what
Checkbox's real answers are, not what the box would like them to be:

- a property that is not `required` may be `null` (FastAPI wrote no `nullable`; Checkbox answers null);
- `format: uuid` and `format: date-time` are checked (a Go or C# client parses them into typed values);
- `exclusiveMinimum: false` stays a Draft 4 boolean, which is what the document means (dropped where it
  has no `minimum` to qualify).

A required property is never null, and an integer is never written 20.0: typed clients refuse both.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs

DOCUMENT = Path(__file__).resolve().parent / "reference" / "checkbox-openapi.json"
API_PREFIX = "/api/v1"

UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
DATE_TIME = r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?$"
DATE = r"^\d{4}-\d\d-\d\d$"
FORMATS = {"uuid": UUID, "date-time": DATE_TIME, "date": DATE}
NULL = {"type": "null"}
BOUND_OF = {"exclusiveMinimum": "minimum", "exclusiveMaximum": "maximum"}


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref":
            out[key] = value.replace("#/components/schemas/", "#/definitions/")
        elif key == "format" and value in FORMATS and node.get("type") == "string":
            out["pattern"] = FORMATS[value]
        elif key == "properties":
            required = set(node.get("required", ()))
            out[key] = {
                name: _convert(prop) if name in required else {"anyOf": [_convert(prop), NULL]}
                for name, prop in value.items()
            }
        elif key == "required":
            out[key] = list(dict.fromkeys(value))  # the document repeats some (ReceiptModel's total_sum)
        elif key in ("title", "description", "example", "examples"):
            continue
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and BOUND_OF[key] not in node:
            continue  # a Draft 4 boolean without its bound means nothing (and Draft 4 refuses it)
        else:
            out[key] = _convert(value)
    return out


@cache
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return loaded


@cache
def definitions() -> dict[str, Any]:
    converted: dict[str, Any] = _convert(copy.deepcopy(document()["components"]["schemas"]))
    return converted


def json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A schema of the document (a `$ref` or inline) with every definition beside it."""
    return {**_convert(schema), "definitions": definitions()}


@cache
def _validator(method: str, template: str, status: str) -> jsonschema_rs.Draft4Validator | None:
    responses = document()["paths"][template][method]["responses"]
    content = responses.get(status, {}).get("content", {}).get("application/json")
    schema = content.get("schema") if content else None
    if not schema:
        return None  # Checkbox describes no body for it
    return jsonschema_rs.Draft4Validator(json_schema(schema))


@dataclass(frozen=True)
class Operation:
    method: str
    template: str  # as the document names it, e.g. /api/v1/receipts/{receipt_id}

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.template}"

    def statuses(self) -> set[str]:
        return set(document()["paths"][self.template][self.method]["responses"])

    def problems(self, status: int, body: Any) -> list[str]:
        """What in this answer a client generated from Checkbox's document would refuse."""
        declared = self.statuses()
        if str(status) not in declared and 200 <= status < 300:
            return [f"{self}: answered {status}, Checkbox declares {sorted(declared)}"]
        if str(status) not in declared:
            return []  # an error Checkbox does not describe: HTTPError's shape is checked by the caller
        validator = _validator(self.method, self.template, str(status))
        if validator is None:
            return []
        return [
            f"{self} {status}: at /{'/'.join(map(str, e.instance_path))}: {e.message[:300]}"
            for e in validator.iter_errors(body)
        ]


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")


@cache
def _templates() -> list[tuple[str, re.Pattern[str], bool]]:
    # Fixed paths before templated ones: /receipts/search is not /receipts/{receipt_id}.
    templates = [(t, _pattern(t), "{" in t) for t in document()["paths"]]
    return sorted(templates, key=lambda item: item[2])


def operation(method: str, path: str) -> Operation | None:
    """The operation of Checkbox's document a request goes to, or None (a box-only route)."""
    method = method.lower()
    for template, pattern, _templated in _templates():
        if pattern.match(path) and method in document()["paths"][template]:
            return Operation(method, template)
    return None


@cache
def _model_validator(model: str) -> jsonschema_rs.Draft4Validator:
    return jsonschema_rs.Draft4Validator(json_schema({"$ref": f"#/components/schemas/{model}"}))


def error_problems(status: int, body: Any) -> list[str]:
    """Every refusal is Checkbox's HTTPError (or HTTPValidationError for a 422)."""
    name = "HTTPValidationError" if status == 422 else "HTTPError"
    return [f"{status} as {name}: {e.message[:300]}" for e in _model_validator(name).iter_errors(body)]


def problems_of(body: Any, model: str) -> list[str]:
    """What in `body` Checkbox's schema `model` (a components/schemas name) refuses."""
    return [
        f"{model} at /{'/'.join(map(str, e.instance_path))}: {e.message[:300]}"
        for e in _model_validator(model).iter_errors(body)
    ]
