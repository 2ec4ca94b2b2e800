"""FastAPI makes a pydantic TypeAdapter for every parameter, body and response model of every
route each time an app is built: ~270 of them, two thirds of building the HTTP door's app
(~95 of ~145 ms of CPU), paid at every server start, and tests start hundreds of servers in
one process. An adapter depends only on its field's declared type, constraints, attributes
and config, so equal declarations share one adapter per process.

Only declarations made of values that compare by what they are (types, numbers, strings,
constraint objects; tuples, lists and dicts of them; objects that compare by identity match
only themselves) are shared; a set, any other value or a forward reference still to resolve
gets an adapter of its own, as before. At most MAX_SHARED are kept (torbit's app has 42), so
declarations made anew with each build could not make the table grow without end. Adapters
are not changed once built, so sharing one changes nothing a request or the OpenAPI schema
sees (the schema is the same, byte for byte). If a FastAPI release moves what this relies
on, apps are built as before."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter

MAX_SHARED = 1024
_shared: dict[Any, TypeAdapter[Any]] = {}


class _Unshareable(Exception):
    pass


_PLAIN = frozenset({type(None), str, bytes, int, float, bool})


def _value_key(value: Any) -> Any:
    """Equal keys only for equal values of the same types, all the way down: 1, 1.0 and True
    differ, and so do Ge(1) and Ge(True); dicts in the same order. Objects that do not
    compare by identity, and are not plain values, dataclasses or containers of them, are
    refused."""
    kind: Any = type(value)
    if kind in _PLAIN:
        return (kind, value)
    if isinstance(value, type):
        return value
    if kind is dict:
        return (dict, tuple((_value_key(k), _value_key(v)) for k, v in value.items()))
    if kind is list or kind is tuple:
        return (kind, tuple(_value_key(v) for v in value))
    if dataclasses.is_dataclass(value):
        fields = dataclasses.fields(value)
        return (kind, tuple(_value_key(getattr(value, f.name)) for f in fields))
    if kind.__eq__ is object.__eq__ and kind.__hash__ is object.__hash__:
        return value  # compared by identity: only the very same object matches
    raise _Unshareable


def _type_key(annotation: Any) -> Any:
    """A type's key, part by part; refused if some part is still a name to resolve (a string
    or a ForwardRef)."""
    if isinstance(annotation, (str, typing.ForwardRef)):
        raise _Unshareable
    origin = typing.get_origin(annotation)
    if origin is None:
        return _value_key(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return (typing.Literal, _value_key(args))
    if origin is typing.Annotated:
        return (typing.Annotated, _type_key(args[0]), _value_key(args[1:]))
    return (origin, tuple(_type_key(a) if not isinstance(a, list) else _value_key(a) for a in args))


def share_type_adapters() -> None:
    """Make FastAPI's ModelField reuse the adapter of an equal earlier declaration."""
    try:
        from fastapi._compat import v2

        model_field: Any = v2.ModelField
        asdict: Callable[[Any], dict[str, Any]] = v2.asdict
        build: Callable[[Any], None] = model_field.__post_init__
    except (ImportError, AttributeError):  # pragma: no cover - a FastAPI that differs
        return
    if getattr(model_field, "_torbit_shares_adapters", False):
        return

    def post_init(field: Any) -> None:
        try:
            parts = asdict(field.field_info)
            key = (
                _type_key(parts["annotation"]),
                _value_key(list(parts["metadata"])),
                _value_key(parts["attributes"]),
                _value_key(field.config),
            )
        except _Unshareable:
            build(field)
            return
        adapter = _shared.get(key)
        if adapter is None:
            build(field)
            if len(_shared) < MAX_SHARED:
                _shared[key] = field._type_adapter
        else:
            field._type_adapter = adapter

    model_field.__post_init__ = post_init
    model_field._torbit_shares_adapters = True
