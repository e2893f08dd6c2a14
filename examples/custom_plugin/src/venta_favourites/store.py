"""Favourites, kept in process memory: enough for an example. A real plugin would keep them
in its own table (with its own migrations) so every gateway process sees the same."""

from __future__ import annotations

from collections import defaultdict

from venta_core.errors import Conflict

__all__ = ["FavouriteStore"]


class FavouriteStore:
    def __init__(self, max_per_user: int) -> None:
        self.max_per_user = max_per_user
        self._by_user: defaultdict[str, set[str]] = defaultdict(set)

    def add(self, user_id: str, vendor_id: str) -> None:
        mine = self._by_user[user_id]
        if vendor_id not in mine and len(mine) >= self.max_per_user:
            raise Conflict("Too many favourites", details={"maxPerUser": self.max_per_user})
        mine.add(vendor_id)

    def remove(self, user_id: str, vendor_id: str) -> None:
        self._by_user[user_id].discard(vendor_id)

    def of_user(self, user_id: str) -> list[str]:
        return sorted(self._by_user.get(user_id, ()))

    def fans_of(self, vendor_id: str) -> list[str]:
        return sorted(user for user, vendors in self._by_user.items() if vendor_id in vendors)

    def forget_vendor(self, vendor_id: str) -> None:
        for vendors in self._by_user.values():
            vendors.discard(vendor_id)

    def forget_user(self, user_id: str) -> None:
        self._by_user.pop(user_id, None)
