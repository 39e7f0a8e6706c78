"""Login throttling: growing waits after failed logins, per user name and per client address.

Once a key has `free_failures` failures, its next attempt must wait
``base_delay_s * 2**(failures - free_failures)`` seconds (capped at `max_delay_s`) after
the last failure.  While a key waits, the login is refused at once, before any
password hash is computed: a throttled guess costs the server a dictionary look-up,
not an scrypt hash.  On a key that has failed before, each attempt is counted before its
password is checked (so guesses sent at once when a wait ends cannot all slip through); a
successful login clears its user name's count and gives its address back only what it reserved.

The counts live in this process's memory (at most `max_keys` keys; the least recently
failed are forgotten first): a restart forgets them, and several server processes
each count on their own.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["LoginThrottle"]


@dataclass
class _Failures:
    count: int
    last: float


class LoginThrottle:
    """Failed login attempts per key, and how long each key must wait before it may try again."""

    def __init__(self, *, free_failures: int = 5, base_delay_s: float = 1.0, max_delay_s: float = 900.0,
                 max_keys: int = 50_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.free_failures = free_failures
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.max_keys = max_keys
        self.clock = clock
        self._failures: OrderedDict[str, _Failures] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LoginThrottle(keys={len(self._failures)})"

    def delay_s(self, failures: int) -> float:
        """Return how long to wait after this many failures (0 while they are free)."""
        extra = failures - self.free_failures
        if extra < 0:
            return 0.0
        return min(self.max_delay_s, self.base_delay_s * 2.0 ** min(extra, 30))

    def wait_s(self, *keys: str) -> float:
        """Return how many seconds the longest-waiting of `keys` must still wait (0: it may try now)."""
        now = self.clock()
        with self._lock:
            waits = [f.last + self.delay_s(f.count) - now for k in keys if (f := self._failures.get(k)) is not None]
        return max([0.0, *waits])

    def attempt(self, *keys: str) -> tuple[float, tuple[str, ...]]:
        """Let an attempt go ahead, reserving it on every key that already has failures.

        Return (wait, reserved): wait is 0 when the attempt may go ahead, else how long the
        longest-waiting key must still wait (and nothing is reserved).  On a key that has failed
        before, the attempt is counted as a failure now, before its password is checked: guesses
        sent at once the moment a wait ends cannot all pass (the first one's count holds the
        rest back).  A key without failures reserves nothing, so people logging in at once under
        one name or from one address are never held back by each other; the first burst of
        guesses against a fresh key is bounded by the server's threads, then the counts apply.
        """
        now = self.clock()
        with self._lock:
            waits = [f.last + self.delay_s(f.count) - now for k in keys if (f := self._failures.get(k)) is not None]
            wait = max([0.0, *waits])
            if wait > 0:
                return wait, ()
            reserved = tuple(k for k in keys if k in self._failures)
            self._count(reserved, now)
        return 0.0, reserved

    def failed(self, *keys: str) -> None:
        """Count one failed attempt for each key."""
        now = self.clock()
        with self._lock:
            self._count(keys, now)

    def _count(self, keys: tuple[str, ...], now: float) -> None:
        for key in keys:
            entry = self._failures.pop(key, None) or _Failures(0, now)
            entry.count, entry.last = entry.count + 1, now
            self._failures[key] = entry  # most recently failed last
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, user_key: str, *reserved_keys: str) -> None:
        """An attempt logged in: forget the user's failures, give back the reservation of `reserved_keys`.

        Only the user name's count is cleared: an address's failures stay (an attacker who owns
        one account must not wipe the count of the guesses made against others from there).
        """
        with self._lock:
            self._failures.pop(user_key, None)
            for key in reserved_keys:
                entry = self._failures.get(key)
                if entry is not None:
                    entry.count -= 1
                    if entry.count <= 0:
                        del self._failures[key]
