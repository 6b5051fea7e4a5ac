"""Reading a lead webhook's body: JSON as sent, url-encoded and multipart forms nested by their bracketed
keys, refused (400/415) when it cannot be read or stored."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from python_multipart.multipart import parse_form, parse_options_header

from domain.errors import DomainError
from domain.storable import unstorable

MAX_BODY_BYTES = 64 * 1024
# Real payloads are a few levels deep; a bound keeps every later walk (ours, json.dumps, PostgreSQL) safe.
MAX_DEPTH = 32
MAX_FORM_FIELDS = 1000


class MalformedBody(DomainError):
    """The body cannot be read as its content type says (400)."""

    code = "BAD_REQUEST"
    http_status = 400


class UnsupportedMediaType(DomainError):
    """A content type lead webhooks do not read (415)."""

    code = "UNSUPPORTED_MEDIA_TYPE"
    http_status = 415


_JSON_TYPES = {"application/json", "text/json"}
_FORM_TYPE = "application/x-www-form-urlencoded"
_MULTIPART_TYPE = "multipart/form-data"


def media_type(content_type: str | None) -> str:
    """`application/json; charset=utf-8` -> `application/json`."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def decode_body(content_type: str | None, body: bytes) -> dict[str, Any]:
    """The body as a JSON-safe object: JSON as sent, forms nested by their bracketed keys."""
    kind = media_type(content_type)
    if kind in _JSON_TYPES or kind.endswith("+json"):
        return _json_object(body)
    if kind == _FORM_TYPE:
        # `curl -d '{...}'` without a Content-Type sends JSON labelled as a form; read what was meant.
        if body.lstrip()[:1] == b"{":
            return _json_object(body)
        return nest_form_pairs(_urlencoded_pairs(body))
    if kind == _MULTIPART_TYPE:
        return nest_form_pairs(_multipart_pairs(content_type or "", body))
    if kind in ("", "text/plain") and body.lstrip()[:1] == b"{":
        return _json_object(body)
    raise UnsupportedMediaType(
        f"unsupported content type {kind or '(none)'!r}; send application/json, "
        "application/x-www-form-urlencoded or multipart/form-data"
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body.decode("utf-8-sig"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        # UnicodeDecodeError and JSONDecodeError are ValueErrors; the message says where.
        raise MalformedBody(f"the body is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise MalformedBody("the body must be a JSON object")
    check_storable(value)
    return value


def _urlencoded_pairs(body: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except ValueError as error:
        raise MalformedBody(f"the form body cannot be read: {error}") from None


def _multipart_pairs(content_type: str, body: bytes) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []

    def on_field(part: Any) -> None:
        pairs.append((_utf8(part.field_name), _utf8(part.value)))

    def on_file(part: Any) -> None:
        # Files are not lead data; the file's name is kept so the raw payload still says one came.
        pairs.append((_utf8(part.field_name), _utf8(part.file_name)))

    # Refused here rather than by the parser, which logs "No boundary given" at ERROR for what is
    # only a sender's mistake.
    if not parse_options_header(content_type)[1].get(b"boundary"):
        raise MalformedBody("the multipart body cannot be read: its Content-Type gives no boundary")
    headers = {"Content-Type": content_type.encode("latin-1"), "Content-Length": str(len(body)).encode()}
    try:
        parse_form(headers, io.BytesIO(body), on_field, on_file)
    except ValueError as error:
        raise MalformedBody(f"the multipart body cannot be read: {error}") from None
    if len(pairs) > MAX_FORM_FIELDS:
        raise MalformedBody(f"more than {MAX_FORM_FIELDS} form fields")
    return pairs


def _utf8(value: bytes | None) -> str:
    if value is None:
        return ""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedBody("a form field is not UTF-8") from None


_BRACKETED = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])+)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


def _key_path(key: str) -> list[str]:
    """`fields[phone][value]` -> ["fields", "phone", "value"]; `tags[]` -> ["tags", ""]."""
    match = _BRACKETED.match(key)
    if match is None:
        return [key]
    return [match.group(1), *_PART.findall(match.group(2))]


def nest_form_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Form fields as a nested object: bracketed keys become objects, `[]` and repeated keys lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        path = _key_path(key)
        if len(path) > MAX_DEPTH or not _put(root, path, value):
            # A key that clashes with another's shape is kept whole rather than lost.
            _put(root, [key], value)
    check_storable(root)
    return root


def _put(root: dict[str, Any], path: list[str], value: str) -> bool:
    node: dict[str, Any] = root
    for depth, part in enumerate(path[:-1]):
        if path[depth + 1] == "" and depth + 2 == len(path):
            existing = node.setdefault(part, [])
            if not isinstance(existing, list):
                return False
            existing.append(value)
            return True
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            return False
        node = child
    last = path[-1]
    if last not in node:
        node[last] = value
    elif isinstance(node[last], list):
        node[last].append(value)
    elif isinstance(node[last], str):
        node[last] = [node[last], value]
    else:
        return False
    return True


def check_storable(value: Any) -> None:
    """Refuse a body PostgreSQL cannot store (NUL, lone surrogates) or that nests too deep."""
    reason = unstorable(value, max_depth=MAX_DEPTH)
    if reason:
        raise MalformedBody(f"the body {reason}")
