"""The machinery under the records: frozen dataclasses over JSON documents, checked against the JSON
Schemas in slm_edge/records/schemas/.

A record's fields are the document's keys (a field's `key` metadata when the name differs). Nested
parts no one types are kept read-only (dicts as mappings, lists as tuples); keys a record does not
declare are kept in `extra`, and the document's key order in `keys`, so to_json(from_json(d)) == d
and a newer writer's keys survive an older reader.
"""

from __future__ import annotations

import dataclasses
import json
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Mapping

EMPTY: Mapping[str, Any] = MappingProxyType({})


def freeze(value):
    """A JSON value made read-only: objects as mappings, arrays as tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value):
    """The plain JSON value again (dicts and lists), records included."""
    if isinstance(value, JsonRecord):
        return value.to_json()
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value


def sub(record: type, default=None, **metadata):
    """A field holding a nested record (None when the key is absent)."""
    return dataclasses.field(default=default, metadata={"record": record, **metadata})


def mapping_of(record: type, **metadata):
    """A field holding an object whose every value is one record (the manifest's files)."""
    return dataclasses.field(default_factory=lambda: EMPTY, metadata={"values": record, **metadata})


def optional(default=None, **metadata):
    """A key the document may leave out; a record built by hand leaves it out while it is None."""
    if isinstance(default, Mapping):
        return dataclasses.field(default_factory=lambda: default, metadata={"omit_none": True, **metadata})
    return dataclasses.field(default=default, metadata={"omit_none": True, **metadata})


def empty_mapping():
    """A field holding a read-only object, empty unless the document has one."""
    return dataclasses.field(default_factory=lambda: EMPTY)


@dataclasses.dataclass(frozen=True)
class JsonRecord:
    """Base of the records: `from_doc` / `to_json` without schema checks (the top-level records check
    the whole document once, in their from_json)."""

    extra: Mapping[str, Any] = dataclasses.field(default_factory=lambda: EMPTY, kw_only=True, repr=False)
    # the document's keys in order (None for a record built by hand: then every field but the
    # optional ones left at None is written)
    keys: tuple[str, ...] | None = dataclasses.field(default=None, kw_only=True, repr=False, compare=False)

    @classmethod
    def _fields(cls):
        return [f for f in dataclasses.fields(cls) if f.name not in ("extra", "keys")]

    @classmethod
    def from_doc(cls, document: Mapping[str, Any]):
        values, declared = {}, set()
        for f in cls._fields():
            key = f.metadata.get("key", f.name)
            declared.add(key)
            if key not in document:
                continue
            value = document[key]
            if "record" in f.metadata and isinstance(value, Mapping):
                value = f.metadata["record"].from_doc(value)
            elif "values" in f.metadata and isinstance(value, Mapping):
                value = MappingProxyType({k: f.metadata["values"].from_doc(v) for k, v in value.items()})
            else:
                value = freeze(value)
            values[f.name] = value
        extra = {k: freeze(v) for k, v in document.items() if k not in declared}
        return cls(**values, extra=MappingProxyType(extra), keys=tuple(document))

    def replace(self, **changes):
        """dataclasses.replace, values frozen, and the changed keys written even when the document had
        none of them (a record read from a document writes only the document's keys)."""
        keys = self.keys
        if keys is not None:
            names = {f.name: f.metadata.get("key", f.name) for f in self._fields()}
            keys = keys + tuple(names[name] for name in changes if names[name] not in keys)
        return dataclasses.replace(self, **{name: freeze(value) for name, value in changes.items()}, keys=keys)

    def to_json(self) -> dict:
        written = {}
        for f in self._fields():
            key, value = f.metadata.get("key", f.name), getattr(self, f.name)
            if self.keys is not None and key not in self.keys:
                continue
            if self.keys is None and value is None and f.metadata.get("omit_none"):
                continue
            written[key] = thaw(value)
        written.update(thaw(self.extra))
        if self.keys is not None:  # the document's own order
            written = {k: written[k] for k in self.keys if k in written} | written
        return written


@lru_cache(maxsize=None)
def schema(name: str) -> dict:
    return json.loads((resources.files("slm_edge.records") / "schemas" / f"{name}.schema.json").read_text())


def first_error(document, name: str) -> str | None:
    """Where and how `document` breaks schema `name` (the most relevant error), or None."""
    import jsonschema  # not at import time: the CLI's start-up does not need it

    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema(name)).iter_errors(document))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    return f"at {where}: {error.message[:200]}"
