"""Probe kinds: one file per kind holds everything the worker needs to know about it.

Each module here defines one :class:`~sitescout.probes.worker.jobs.Kind` named ``KIND``: its
settings class and defaults (the targets file's ``defaults.<kind>``), its prober, which jobs a
target gets, its ``/metrics`` families, its ``/probe`` modules with their request builder and
answer gauges, and the values a failed probe carries.  The scheduler, the targets file, ``/metrics``
and ``/probe`` read kinds only through :data:`sitescout.probes.worker.registry.KINDS`.

Adding a kind (SNMP is next) touches:

1. ``probes/worker/kinds/<kind>.py`` — new: settings dataclass (with ``interval_s``, ``timeout_s``,
   ``concurrency``, ``batched`` and a ``budget_s`` property), ``probe_<kind>``, ``plan``,
   ``families``, ``build``, ``gauges`` and ``KIND = Kind(...)``;
2. ``probes/worker/registry.py`` — one line in ``KINDS``;
3. ``probes/worker/metric_defs.py`` — its metric definitions (every metric is defined there once);
4. ``tests/test_<kind>...py`` and the docs section of the kind (as for any new code).

Health thresholds for its observations, if it has any, go to ``inventory/health.py``.
"""
