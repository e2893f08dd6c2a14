"""In-process event bus with the semantics of core NATS, so tests against it mean something.

- Subjects follow NATS rules (``validate_subject``): ``*`` matches one token, a final ``>`` the
  rest.
- A plain subscription gets every matching message; a queue group (same subject and queue name)
  gets each message once, handed to its members in turn.
- Each subscription has its own queue and task, as a NATS client does: delivery is asynchronous
  and ordered per subscription, ``publish`` never waits for a handler, and a handler's exception
  is logged without stopping the subscription.
- ``flush()`` waits until every message published so far has been handled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from types import MappingProxyType

from venta_core.ports.bus import BusMessage, Handler, Subscription, tokens_match

__all__ = ["MemoryEventBus", "validate_subject"]

logger = logging.getLogger(__name__)

_WHITESPACE = frozenset(" \t\r\n")


def validate_subject(subject: str, *, pattern: bool) -> list[str]:
    """Raise ``ValueError`` unless ``subject`` is a valid NATS subject: dot-separated non-empty
    tokens without whitespace; wildcards (``*``, a final ``>``) only when ``pattern`` is true.
    Returns its tokens."""
    if not subject or not _WHITESPACE.isdisjoint(subject):
        raise ValueError(f"invalid subject {subject!r}")
    parts = subject.split(".")
    for i, part in enumerate(parts):
        wildcard = part == "*" or (part == ">" and i == len(parts) - 1)
        misplaced = not wildcard and ("*" in part or ">" in part)
        if not part or misplaced or (wildcard and not pattern):
            raise ValueError(f"invalid {'subscription ' if pattern else ''}subject {subject!r}")
    return parts


class _MemorySubscription:
    def __init__(self, bus: MemoryEventBus, pattern: str, handler: Handler, queue: str | None):
        self.pattern = pattern
        self.tokens = pattern.split(".")
        self.queue = queue
        self._bus = bus
        self._handler = handler
        self._inbox: asyncio.Queue[BusMessage | None] = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._deliver(), name=f"bus {pattern}")

    def put(self, message: BusMessage) -> None:
        self._inbox.put_nowait(message)

    async def _deliver(self) -> None:
        while (message := await self._inbox.get()) is not None:
            try:
                await self._handler(message)
            except Exception:
                logger.exception("handler of %r failed on %r", self.pattern, message.subject)
            finally:
                self._bus._settle(1)

    async def unsubscribe(self) -> None:
        """Stop delivery; the message being handled (if any) finishes, queued ones are dropped."""
        if not self._bus._forget(self):
            return
        dropped = 0
        while not self._inbox.empty():
            dropped += self._inbox.get_nowait() is not None
        self._bus._settle(dropped)
        self._inbox.put_nowait(None)


class MemoryEventBus:
    """``EventBus`` inside one process (see the module docstring)."""

    name = "bus"

    def __init__(self) -> None:
        self._subs: list[_MemorySubscription] = []
        self._turns: dict[tuple[str, str], int] = {}  # queue group -> deliveries so far
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        subs, self._subs = self._subs, []
        for sub in subs:
            sub.task.cancel()
        await asyncio.gather(*(sub.task for sub in subs), return_exceptions=True)
        self._turns.clear()
        self._pending = 0
        self._idle.set()

    async def check(self) -> None:
        return None

    async def publish(
        self, subject: str, data: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        tokens = validate_subject(subject, pattern=False)
        message = BusMessage(subject, bytes(data), MappingProxyType(dict(headers or {})))
        targets: list[_MemorySubscription] = []
        groups: dict[tuple[str, str], list[_MemorySubscription]] = {}
        for sub in self._subs:
            if tokens_match(sub.tokens, tokens):
                if sub.queue is None:
                    targets.append(sub)
                else:
                    groups.setdefault((sub.pattern, sub.queue), []).append(sub)
        for group, members in groups.items():
            turn = self._turns.get(group, 0)
            self._turns[group] = turn + 1
            targets.append(members[turn % len(members)])
        for sub in targets:
            self._pending += 1
            self._idle.clear()
            sub.put(message)

    async def subscribe(
        self, subject: str, handler: Handler, queue: str | None = None
    ) -> Subscription:
        validate_subject(subject, pattern=True)
        sub = _MemorySubscription(self, subject, handler, queue or None)
        self._subs.append(sub)
        return sub

    async def flush(self) -> None:
        current = asyncio.current_task()
        if any(sub.task is current for sub in self._subs):
            raise RuntimeError("flush() inside a handler would wait for that handler itself")
        await self._idle.wait()

    def _settle(self, handled: int) -> None:
        self._pending = max(0, self._pending - handled)
        if self._pending == 0:
            self._idle.set()

    def _forget(self, sub: _MemorySubscription) -> bool:
        """Remove ``sub``; False when it was not subscribed (any more)."""
        if sub not in self._subs:
            return False
        self._subs.remove(sub)
        if sub.queue is not None:
            group = (sub.pattern, sub.queue)
            if not any((s.pattern, s.queue) == group for s in self._subs):
                self._turns.pop(group, None)
        return True
