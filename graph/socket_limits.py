"""Open websockets per client address and per signed-in user, so no one caller holds them all."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

# graphql-transport-ws's own code for "too many" (it closes a second connection_init with it).
TOO_MANY_CLOSE_CODE = 4429


@dataclass
class SocketLimits:
    """Counts for this process. A socket counts against its address from the upgrade on (no login
    needed to open one, and a public dashboard never logs in); once a user signs in on it, it counts
    against that user instead, so an office behind one address is bounded per person."""

    per_address: int
    per_user: int
    _addresses: Counter[str] = field(default_factory=Counter)
    _users: Counter[str] = field(default_factory=Counter)

    def open(self, address: str) -> bool:
        """Count a new socket from `address`; False (not counted) when the address has its fill."""
        if self._addresses[address] >= self.per_address:
            return False
        self._addresses[address] += 1
        return True

    def sign_in(self, address: str, user_id: str) -> bool:
        """Move an open socket from its address to `user_id`; False when that user has their fill."""
        if self._users[user_id] >= self.per_user:
            return False
        self._users[user_id] += 1
        self._release(self._addresses, address)
        return True

    def close(self, address: str, user_id: str | None) -> None:
        if user_id is None:
            self._release(self._addresses, address)
        else:
            self._release(self._users, user_id)

    @staticmethod
    def _release(counts: Counter[str], key: str) -> None:
        counts[key] -= 1
        if counts[key] <= 0:
            del counts[key]
