"""The worker's probe kinds: one registry (``KINDS``), one line per kind.

Model: blackbox_exporter ``prober/prober.go`` (``ProbeFn``) and ``handler.go``
(``Probers``).  Every prober takes the jobs that fell due together, the kind's
settings and the shared :class:`~sitescout.probes.worker.jobs.ProbeContext`, and
returns one :class:`~sitescout.probes.worker.jobs.ProbeResult` per job; a failed
probe is a measurement, never an exception.  Each kind lives in one file of
:mod:`sitescout.probes.worker.kinds` (whose docstring lists what a new kind touches).
The order here is the order of the targets file's ``defaults`` sections, of the
jobs a target gets and of the families on ``/metrics``.
"""

from __future__ import annotations

from sitescout.probes.worker.jobs import Kind, ProbeFn
from sitescout.probes.worker.kinds import link, onvif, snmp, stream

__all__ = ["KINDS", "PROBERS", "PROBE_MODULES"]

#: The only switch between probe kinds (STYLE rule 2): kind name -> everything about it.
KINDS: dict[str, Kind] = {
    "link": link.KIND,
    "stream": stream.KIND,
    "onvif": onvif.KIND,
    "snmp": snmp.KIND,
}

#: Kind name -> prober.
PROBERS: dict[str, ProbeFn] = {name: kind.probe for name, kind in KINDS.items()}
#: /probe module -> the kind that answers it.
PROBE_MODULES: dict[str, Kind] = {module: kind for kind in KINDS.values() for module in kind.modules}
