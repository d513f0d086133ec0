"""The tax service's XSDs: safe XML parsing and validation."""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

from agent.secr.errors import InvalidDocument

# agent/schemas: this module is agent/secr/documents/schema.py.
_SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
_SCHEMA_FILES = {"CHECK": "check01.xsd", "ZREP": "zrep01.xsd", "TICKET": "ticket01.xsd"}
# libxml2 keeps the last errors on the schema object; one validation at a time keeps them ours.
_schema_lock = threading.Lock()


@cache
def _schema(root: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(_SCHEMA_DIR / _SCHEMA_FILES[root])))


def _xml_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True, huge_tree=False)


# lxml parser objects must not be shared between threads; one per thread, made on first use.
_local = threading.local()


def _parser() -> etree.XMLParser:
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = _xml_parser()
    return parser


def _parse_tree(xml: bytes) -> etree._Element:
    if not isinstance(xml, bytes | bytearray):
        raise InvalidDocument(f"expected the document as bytes, got {type(xml).__name__}")
    try:
        return etree.fromstring(bytes(xml), _parser())
    except etree.XMLSyntaxError as exc:
        line = f" (line {exc.lineno})" if exc.lineno and "line" not in str(exc.msg) else ""
        hint = ""
        if "EntityRef" in str(exc) or "xmlParseEntityRef" in str(exc):
            hint = "; an unescaped '&' in text must be written as &amp;"
        raise InvalidDocument(f"not well-formed XML: {exc.msg}{line}{hint}") from None


def _validate_tree(root: etree._Element) -> None:
    tag = root.tag
    if tag not in _SCHEMA_FILES:
        raise InvalidDocument(f"unknown document root <{tag}>; expected CHECK, ZREP or TICKET")
    with _schema_lock:  # the first use builds the schema: libxml2 and functools.cache are not safe there
        schema = _schema(str(tag))
        if schema.validate(root):
            return
        # lxml-stubs do not declare _ErrorLog a sequence; at runtime it is one, oldest error first.
        log: Any = schema.error_log
        err = log[0] if len(log) else None
    if err is None:
        raise InvalidDocument(f"{tag} document is not valid against {_SCHEMA_FILES[str(tag)]}")
    raise InvalidDocument(
        f"{tag} document is not valid against {_SCHEMA_FILES[str(tag)]}: {err.message} (line {err.line})"
    )


def validate(xml: bytes) -> None:
    _validate_tree(_parse_tree(xml))
