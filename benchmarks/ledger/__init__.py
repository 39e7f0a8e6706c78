"""The benchmark ledger: one command runs the headline benchmarks against their anchors and records a JSON entry.

``registry`` is the table of benchmarks, ``runner`` runs them, ``model`` summarises
and stores entries (``entries/*.json``, one file each), ``compare`` flags
regressions beyond the baseline's measured noise, ``render`` writes the generated
blocks of docs/benchmarks.md.  See ``python -m benchmarks.ledger --help``.
"""

from __future__ import annotations

__all__: list[str] = []
