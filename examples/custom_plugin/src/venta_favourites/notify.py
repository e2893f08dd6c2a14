"""Who tells users that a favourite vendor opened. The default writes a log line; a real
deployment would answer with push notifications (APNs, FCM) behind the same protocol."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["LogNotifier", "Notification", "Notifier"]

log = logging.getLogger("venta.favourites")


@dataclass(frozen=True, slots=True)
class Notification:
    user_id: str
    vendor_id: str
    vendor_name: str | None


class Notifier(Protocol):
    async def notify(self, notification: Notification) -> None: ...


@dataclass
class LogNotifier:
    sent: list[Notification] = field(default_factory=list)

    async def notify(self, notification: Notification) -> None:
        self.sent.append(notification)
        log.info(
            "favourite vendor %s opened; telling user %s",
            notification.vendor_name or notification.vendor_id,
            notification.user_id,
        )
