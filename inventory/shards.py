"""Which shard a device belongs to: one rule for the worker's ``--shard K/N`` and ``/sd/prometheus?shard=K/N``.

A device's shard is fixed by its identity — the ``site`` and ``device`` labels the worker
probes it under — hashed with sha256, so it is the same on every host and every run and does
not move when other devices come or go.  The worker (``probes``) and the web's service
discovery (``web/sd.py``) both import `shard_of` from here: ``inventory/`` is the one package
both may import.  Pure: no database, no network.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache

from sitescout.inventory.errors import Coded

__all__ = ["shard_of", "parse_shard", "ShardError", "MAX_SHARDS"]

#: The most shards the targets can be split into.
MAX_SHARDS = 10_000


class ShardError(ValueError):
    """A shard spec that is not ``K/N`` with 1 <= K <= N; ``str()`` says the expected form.

    Its message is a :class:`Coded` (``shard_form``, ``shard_range``, ``shard_count``): the worker's
    command and the targets API say it in the reader's language.
    """


def shard_of(key: Sequence[str], n: int) -> int:
    """Return the shard (1..n) of the device whose identity is `key` (its site and device labels).

    The float arithmetic is the worker's historical rule (``int(fraction * n)``) kept bit for bit,
    so a worker that has not moved to this function still agrees with the service discovery.
    """
    if n < 1:
        raise ShardError(Coded("shard_count", "the number of shards must be at least 1, not %(count)s", count=n))
    if n == 1:
        return 1
    return int(_fraction(tuple(key)) * n) + 1


@lru_cache(maxsize=1 << 18)
def _fraction(key: tuple[str, ...]) -> float:
    # Kept: /sd hashes every device's identity on each build of a shard (100,000 sha256: 0.8 s, 0.08 s
    # from the cache).  About 0.28 kB an identity: 28 MB for a province of 100,000 devices, at most
    # 73 MB (262,144 identities; beyond, the least recently used are hashed again).
    digest = hashlib.sha256("\0".join(("shard", *key)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def parse_shard(text: str, *, name: str = "shard") -> tuple[int, int]:
    """Parse ``K/N`` (1 <= K <= N) into (K, N).

    Raises:
        ShardError: with a message naming `name` and the expected form.
    """
    try:
        k_text, n_text = text.split("/")
        k, n = int(k_text), int(n_text)
    except ValueError:
        raise ShardError(Coded("shard_form", "%(name)s must look like K/N (e.g. 1/2), not %(value)r", name=name,
                               value=text)) from None
    if not 1 <= k <= n or n > MAX_SHARDS:
        raise ShardError(Coded("shard_range", "%(name)s %(value)s: give K/N with K between 1 and N (N at most "
                               "%(most)s)", name=name, value=text, most=MAX_SHARDS))
    return k, n
