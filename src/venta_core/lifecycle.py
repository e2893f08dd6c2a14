"""The lifecycle every long-lived component follows: start, check (readiness), stop."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Checkable", "Component"]


@runtime_checkable
class Component(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Release resources. Must not raise."""
        ...


@runtime_checkable
class Checkable(Protocol):
    name: str

    async def check(self) -> None:
        """Return when ready; raise (any exception) when the backend is unreachable."""
        ...
