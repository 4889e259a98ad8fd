"""Every server event of a Realtime session, parsed strictly by the `openai` SDK's own pydantic types: the event's
`type` must be one of `RealtimeServerEvent`'s, the payload must validate as that type, and no field may be one the
type does not declare (the SDK itself accepts anything; a client reading our events must find what it expects)."""

from __future__ import annotations

import typing
from typing import Any

from openai.types.realtime.realtime_server_event import RealtimeServerEvent
from pydantic import BaseModel


def _by_type() -> dict[str, type[BaseModel]]:
    union = typing.get_args(RealtimeServerEvent)[0]  # Annotated[Union[...], PropertyInfo]
    table = {}
    for cls in typing.get_args(union):
        (literal,) = typing.get_args(cls.model_fields["type"].annotation)
        table[literal] = cls
    return table


EVENT_TYPES = _by_type()


def strict_parse(raw: dict[str, Any]) -> BaseModel:
    kind = raw.get("type")
    assert kind in EVENT_TYPES, f"{kind!r} is not a Realtime server event type"
    model = EVENT_TYPES[kind].model_validate(raw, strict=False)
    _no_extras(model, kind)
    return model


def _no_extras(value: Any, path: str) -> None:
    if isinstance(value, BaseModel):
        extra = value.model_extra or {}
        assert not extra, f"{path}: fields the SDK type does not declare: {sorted(extra)}"
        for name in type(value).model_fields:
            _no_extras(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list):
        for index, entry in enumerate(value):
            _no_extras(entry, f"{path}[{index}]")
