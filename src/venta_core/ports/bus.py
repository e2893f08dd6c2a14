"""Event bus port: publish/subscribe with NATS subject rules (``*`` one token, ``>`` the rest)
and queue groups (each message to one member of a group).

Implementations: ``MemoryEventBus`` (in-process) and ``NatsEventBus`` (core NATS).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["BusMessage", "EventBus", "Handler", "Subscription", "subject_matches", "tokens_match"]


@dataclass(frozen=True, slots=True)
class BusMessage:
    subject: str
    data: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[BusMessage], Awaitable[None]]


class Subscription(Protocol):
    async def unsubscribe(self) -> None: ...


class EventBus(Protocol):
    name: str

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def check(self) -> None: ...

    async def publish(
        self, subject: str, data: bytes, headers: Mapping[str, str] | None = None
    ) -> None: ...

    async def subscribe(
        self, subject: str, handler: Handler, queue: str | None = None
    ) -> Subscription:
        """Call ``handler`` for each message on ``subject`` (wildcards allowed). A handler's
        exception is logged and does not stop the subscription."""
        ...

    async def flush(self) -> None:
        """Wait until published messages have left this process (and, in memory, been handled)."""
        ...


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` matches one token, a final ``>`` one or more tokens."""
    return tokens_match(pattern.split("."), subject.split("."))


def tokens_match(p_tokens: list[str], s_tokens: list[str]) -> bool:
    """``subject_matches`` on subjects already split at their dots (a bus matching one
    subject against many patterns splits each once)."""
    for i, part in enumerate(p_tokens):
        if part == ">":
            return len(s_tokens) > i
        if i >= len(s_tokens):
            return False
        if part not in ("*", s_tokens[i]):
            return False
    return len(p_tokens) == len(s_tokens)
