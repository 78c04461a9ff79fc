"""Stripe's request encoding: form bodies with bracket notation, read through `Params`."""

from __future__ import annotations

import base64
import builtins
import re
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl, quote

from stripesim.errors import InvalidRequest, missing

_SEGMENT = re.compile(r"\[([^\]]*)\]")
MAX_STRING = 5000  # the longest string parameter Stripe takes


def decode_form(raw: str) -> dict[str, Any]:
    """Decode `a[b][0][c]=v&expand[]=x` into nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        bracket = key.find("[")
        if bracket == -1:
            root[key] = value
            continue
        path = [key[:bracket], *_SEGMENT.findall(key[bracket:])]
        node: Any = root
        for i, seg in enumerate(path[:-1]):
            path[i + 1]
            child = node.get(seg) if isinstance(node, dict) else None
            if child is None or not isinstance(child, dict):
                child = {}
                if isinstance(node, dict):
                    node[seg] = child
            node = child
        last = path[-1]
        if last == "":
            node.setdefault("\x00append", []).append(value)
        else:
            node[last] = value
    return _listify(root)


def decode_multipart(body: bytes, content_type: str) -> dict[str, Any]:
    """A `multipart/form-data` body (how Stripe's SDKs upload files): each field as `decode_form`
    would give it, and each file as `{"filename", "data"}`, its bytes in base64 (so the request
    can be fingerprinted for its idempotency key like any other)."""
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    if not message.is_multipart():
        raise InvalidRequest("The multipart/form-data body could not be read.")
    fields: list[tuple[str, str]] = []
    files: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        data = part.get_payload(decode=True)
        raw = data if isinstance(data, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            files[name] = {"filename": filename, "data": base64.b64encode(raw).decode()}
        else:
            fields.append((name, raw.decode("utf-8", errors="replace")))
    decoded = decode_form("&".join(f"{quote(k, safe='[]')}={quote(v, safe='')}" for k, v in fields))
    decoded.update(files)
    return decoded


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if "\x00append" in node and len(node) == 1:
        return list(node["\x00append"])
    converted = {k: _listify(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def _name(prefix: str, key: str) -> str:
    return f"{prefix}[{key}]" if prefix else key


class Params:
    """Typed, validating access to decoded request parameters.

    Every error names the parameter as Stripe does (`items[0][price]`).
    """

    __slots__ = ("data", "prefix")

    def __init__(self, data: dict[builtins.str, Any] | None, prefix: builtins.str = "") -> None:
        self.data = data or {}
        self.prefix = prefix

    def name(self, key: builtins.str) -> builtins.str:
        return _name(self.prefix, key)

    def only(self, *allowed: builtins.str) -> Params:
        allowed_set = set(allowed) | {"expand"}
        for key in self.data:
            if key not in allowed_set:
                raise InvalidRequest(f"Received unknown parameter: {self.name(key)}", param=self.name(key))
        return self

    def has(self, key: builtins.str) -> builtins.bool:
        return key in self.data

    def raw(self, key: builtins.str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def is_unset(self, key: builtins.str) -> builtins.bool:
        """Stripe clears a field when it is sent as an empty string."""
        return self.data.get(key) == ""

    def str(
        self,
        key: builtins.str,
        *,
        required: builtins.bool = False,
        choices: tuple[builtins.str, ...] | None = None,
        default: builtins.str | None = None,
        max_length: builtins.int = MAX_STRING,
    ) -> builtins.str | None:
        value = self.data.get(key)
        if value is None or (value == "" and not required and default is not None):
            if required:
                raise missing(self.name(key))
            return default
        if not isinstance(value, str):
            raise InvalidRequest(f"Invalid string: {self.name(key)} must be a string", param=self.name(key))
        if required and value == "":
            raise InvalidRequest(
                f"You passed an empty string for '{self.name(key)}'. We assume empty values are "
                "an attempt to unset a parameter; however '" + self.name(key) + "' cannot be unset.",
                param=self.name(key),
                code="parameter_invalid_empty",
            )
        if choices is not None and value not in choices:
            raise InvalidRequest(
                f"Invalid {self.name(key)}: must be one of {', '.join(choices)}",
                param=self.name(key),
            )
        if len(value) > max_length:
            raise InvalidRequest(
                f"Invalid {self.name(key)}: must be at most {max_length} characters",
                param=self.name(key),
            )
        return value

    def int(
        self,
        key: builtins.str,
        *,
        required: builtins.bool = False,
        minimum: builtins.int | None = None,
        maximum: builtins.int | None = None,
        default: builtins.int | None = None,
    ) -> builtins.int | None:
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                raise missing(self.name(key))
            return default
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise InvalidRequest(
                f"Invalid integer: {value}", param=self.name(key), code="parameter_invalid_integer"
            ) from None
        if minimum is not None and number < minimum:
            raise InvalidRequest(
                f"Invalid {self.name(key)}: must be greater than or equal to {minimum}",
                param=self.name(key),
            )
        if maximum is not None and number > maximum:
            raise InvalidRequest(
                f"Invalid {self.name(key)}: must be less than or equal to {maximum}",
                param=self.name(key),
            )
        return number

    def float(self, key: builtins.str, *, default: builtins.float | None = None) -> builtins.float | None:
        value = self.data.get(key)
        if value is None or value == "":
            return default
        try:
            return float(value)
        except (TypeError, ValueError):
            raise InvalidRequest(f"Invalid decimal: {value}", param=self.name(key)) from None

    def bool(self, key: builtins.str, *, default: builtins.bool | None = None) -> builtins.bool | None:
        value = self.data.get(key)
        if value is None or value == "":
            return default
        if value in ("true", True):
            return True
        if value in ("false", False):
            return False
        raise InvalidRequest(f"Invalid boolean: {value}", param=self.name(key), code="parameter_invalid_boolean")

    def timestamp_or(self, key: builtins.str, *words: builtins.str) -> builtins.int | builtins.str | None:
        """A unix timestamp, or one of the literal words Stripe accepts there (`now`)."""
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if value in words:
            return value
        return self.int(key)

    def sub(self, key: builtins.str, *, required: builtins.bool = False) -> Params | None:
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                raise missing(self.name(key))
            return None
        if not isinstance(value, dict):
            raise InvalidRequest(f"Invalid object: {self.name(key)} must be a hash", param=self.name(key))
        return Params(value, self.name(key))

    def list(self, key: builtins.str, *, required: builtins.bool = False) -> builtins.list[Any]:
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                raise missing(self.name(key))
            return []
        if isinstance(value, dict):
            raise InvalidRequest(f"Invalid array: {self.name(key)} must be an array", param=self.name(key))
        if not isinstance(value, list):
            value = [value]
        return value

    def list_of(self, key: builtins.str, *, required: builtins.bool = False) -> builtins.list[Params]:
        out = []
        for i, item in enumerate(self.list(key, required=required)):
            if not isinstance(item, dict):
                raise InvalidRequest(
                    f"Invalid object: {self.name(key)}[{i}] must be a hash",
                    param=f"{self.name(key)}[{i}]",
                )
            out.append(Params(item, f"{self.name(key)}[{i}]"))
        return out

    def strings(self, key: builtins.str) -> builtins.list[builtins.str]:
        return [str(v) for v in self.list(key)]

    def metadata(self, key: builtins.str = "metadata") -> dict[builtins.str, builtins.str] | None:
        """Metadata to merge: a key sent as "" is deleted; `metadata=""` clears all."""
        value = self.data.get(key)
        if value is None:
            return None
        if value == "":
            return {}
        if not isinstance(value, dict):
            raise InvalidRequest(f"Invalid object: {self.name(key)} must be a hash", param=self.name(key))
        if len(value) > 50:
            raise InvalidRequest("Metadata can have at most 50 keys", param=self.name(key))
        for k, v in value.items():
            if len(k) > 40:
                raise InvalidRequest(f"Metadata key {k!r} is longer than 40 characters", param=f"{self.name(key)}[{k}]")
            if isinstance(v, str) and len(v) > 500:
                raise InvalidRequest(
                    f"Metadata value for {k!r} is longer than 500 characters",
                    param=f"{self.name(key)}[{k}]",
                )
        return {str(k): str(v) for k, v in value.items()}


def merge_metadata(current: dict[str, str], update: dict[str, str] | None) -> dict[str, str]:
    """Stripe's metadata update: keys merge, a key set to "" is removed, "" clears all."""
    if update is None:
        return current
    if not update:
        return {}
    merged = dict(current)
    for k, v in update.items():
        if v == "":
            merged.pop(k, None)
        else:
            merged[k] = v
    return merged
