"""Every metric the worker exposes, defined once: name, type, help, label names, unit.

``/metrics`` (:mod:`sitescout.probes.worker.exporter`) and ``/probe``
(:mod:`sitescout.probes.worker.probe_service`) build their families from these
definitions, the dashboards' queries (``infra/grafana``) and the rules' tests
name metrics through them, and a test checks that no other module of
``probes/`` spells a ``sitescout_`` metric name itself.  Renaming a metric is
therefore one edit here; whatever still uses the old name fails its test.

:attr:`MetricDef.labels` are the labels a series carries in Prometheus.  On
``/probe`` the target labels (:data:`TARGET_LABELS`: ``site``, ``device``,
``profile``) are not written by the worker: Prometheus adds them from service
discovery, as for any blackbox-style probe (:meth:`MetricDef.probe_labels`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MetricDef", "METRICS", "BY_NAME", "DURATION_BUCKETS", "RTT_BUCKETS", "STREAM_VALUES", "TARGET_LABELS"]

#: Labels Prometheus adds to a /probe answer from service discovery (never written by /probe).
TARGET_LABELS = ("site", "device", "profile")
#: Round-trip buckets from 0.1 ms (a switch port) to 2 s (a congested radio hop).
RTT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0)
#: Probe durations: a link burst takes ~3 s, a stream check 4-12 s, ONVIF up to 20 s.
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0)
_DEVICE = ("site", "device")
_STREAM = ("site", "device", "profile")


@dataclass(frozen=True)
class MetricDef:
    """One metric: its name as queried (counters end in ``_total``), type, help, labels and unit."""

    name: str
    type: str  # gauge | counter | histogram
    help: str
    labels: tuple[str, ...] = ()
    #: Base unit the name ends with ("seconds", "ratio", "pixels", ...); "" for counts and 0/1 states.
    unit: str = ""

    @property
    def family(self) -> str:
        """Return the family name prometheus_client and the text writer take (a counter without ``_total``)."""
        return self.name.removesuffix("_total") if self.type == "counter" else self.name

    @property
    def probe_labels(self) -> tuple[str, ...]:
        """Return the labels a /probe answer writes itself (the target labels come from Prometheus)."""
        return tuple(n for n in self.labels if n not in TARGET_LABELS)

    def series(self, suffix: str = "") -> str:
        """Return the name of one of its series (``series("_bucket")`` of a histogram)."""
        return self.name + suffix


def _g(name: str, help_: str, labels: tuple[str, ...] = (), unit: str = "") -> MetricDef:
    return MetricDef(f"sitescout_{name}", "gauge", help_, labels, unit)


# -- link (per device)
DEVICE_UP = _g("device_up", "1 when the device answered its last link probe (at least one echo or TCP connect).",
               _DEVICE)
LINK_RTT = MetricDef("sitescout_link_rtt_seconds", "histogram", "Round-trip time of every echo answered.", _DEVICE,
                     "seconds")
LINK_JITTER = _g("link_jitter_seconds", "Mean absolute difference of consecutive RTTs.", _DEVICE, "seconds")
LINK_LOSS = _g("link_loss_ratio", "Share of echoes of the last burst not answered (0-1).", _DEVICE, "ratio")
LINK_RTT_AVERAGE = _g("link_rtt_average_seconds", "Mean round-trip time of the answered echoes.", _DEVICE, "seconds")
LINK_SENT = _g("link_sent_packets", "Echoes (or TCP connects) sent.", _DEVICE, "packets")

# -- ONVIF (per camera)
ONVIF_UP = _g("onvif_up", "1 when the camera answered its last ONVIF probe.", _DEVICE)
ONVIF_CLOCK_OFFSET = _g("onvif_clock_offset_seconds", "Camera clock minus worker clock (UTC).", _DEVICE, "seconds")
CAMERA_INFO = _g("camera_info", "Camera identity from ONVIF (value 1).",
                 (*_DEVICE, "manufacturer", "model", "firmware"))

# -- streams (per profile)
STREAM_UP = _g("stream_up", "1 when the stream delivered frames in its last check.", _STREAM)
#: Stream gauges beside STREAM_UP: (key in a stream result's values, definition).
STREAM_VALUES: tuple[tuple[str, MetricDef], ...] = tuple((key, _g(f"stream_{key}", help_, _STREAM, unit)) for
                                                         key, help_, unit in (
    ("fps", "Frames per second measured over the check window.", ""),
    ("expected_fps", "Frames per second the profile promises (0 when unknown).", ""),
    ("width_pixels", "Picture width.", "pixels"),
    ("height_pixels", "Picture height.", "pixels"),
    ("bitrate_bits_per_second", "Stream bitrate measured over the check window.", "bits_per_second"),
    ("frozen", "1 when the picture did not change over the window.", ""),
    ("black", "1 when the picture is black.", ""),
    ("open_seconds", "Time to open the stream.", "seconds"),
))
#: One series per stream (value 1): the RTSP transport its last check used, which the worker reuses ("" before
#: a check opened the stream, and for HTTP MJPEG streams).
STREAM_INFO = _g("stream_info", "RTSP transport of the stream's last check (value 1): tcp, or udp when the server "
                 "refused or ignored RTSP over TCP.", (*_STREAM, "transport"))
STREAM_FPS, STREAM_EXPECTED_FPS, STREAM_WIDTH, STREAM_HEIGHT, STREAM_BITRATE, STREAM_FROZEN, STREAM_BLACK, \
    STREAM_OPEN = (d for _, d in STREAM_VALUES)

# -- SNMP (per switch/router; per interface; per PoE port and PSE): IF-MIB and POWER-ETHERNET-MIB
_IFACE = ("site", "device", "interface", "if_index")
_PSE = ("site", "device", "group")
SNMP_UP = _g("snmp_up", "1 when the device answered its last SNMP probe (system, interfaces and PoE read).", _DEVICE)
SNMP_UPTIME = _g("snmp_uptime_seconds", "Time since the SNMP agent (re)started (sysUpTime).", _DEVICE, "seconds")
INTERFACE_UP = _g("interface_up", "1 when the interface is operationally up (ifOperStatus up).", _IFACE)
INTERFACE_ADMIN_UP = _g("interface_admin_up", "1 when the interface is administratively up (ifAdminStatus up).",
                        _IFACE)
INTERFACE_UPLINK = _g("interface_uplink", "1 for the ports the targets name as the device's uplinks.", _IFACE)
INTERFACE_CAMERA = _g("interface_camera", "1 for the ports the targets name as where cameras are cabled.", _IFACE)
INTERFACE_SPEED = _g("interface_speed_bits_per_second", "Interface speed (ifHighSpeed, else ifSpeed).", _IFACE,
                     "bits_per_second")


def _c(name: str, help_: str, labels: tuple[str, ...], unit: str = "") -> MetricDef:
    return MetricDef(f"sitescout_{name}", "counter", help_, labels, unit)


#: Interface counters beside the gauges: (attribute of probes.snmp.models.Interface, definition).
INTERFACE_COUNTERS: tuple[tuple[str, MetricDef], ...] = (
    ("in_octets", _c("interface_receive_bytes_total", "Bytes received (ifHCInOctets).", _IFACE, "bytes")),
    ("out_octets", _c("interface_transmit_bytes_total", "Bytes sent (ifHCOutOctets).", _IFACE, "bytes")),
    ("in_errors", _c("interface_receive_errors_total", "Inbound packets with errors (ifInErrors).", _IFACE)),
    ("out_errors", _c("interface_transmit_errors_total", "Outbound packets with errors (ifOutErrors).", _IFACE)),
    ("in_discards", _c("interface_receive_discards_total", "Inbound packets discarded (ifInDiscards).", _IFACE)),
    ("out_discards", _c("interface_transmit_discards_total", "Outbound packets discarded (ifOutDiscards).",
                        _IFACE)),
)
INTERFACE_RECEIVE_BYTES, INTERFACE_TRANSMIT_BYTES, INTERFACE_RECEIVE_ERRORS, INTERFACE_TRANSMIT_ERRORS, \
    INTERFACE_RECEIVE_DISCARDS, INTERFACE_TRANSMIT_DISCARDS = (d for _, d in INTERFACE_COUNTERS)
POE_DELIVERING = _g("poe_delivering", "1 when the PoE port delivers power (pethPsePortDetectionStatus).", _IFACE)
POE_POWER = _g("poe_power_watts", "Power the PoE port delivers (vendor MIB; absent where the switch has none).",
               _IFACE, "watts")
POE_BUDGET = _g("poe_budget_watts", "PoE budget of the power source equipment (pethMainPsePower).", _PSE, "watts")
POE_CONSUMPTION = _g("poe_consumption_watts", "PoE power drawn from the PSE (pethMainPseConsumptionPower).", _PSE,
                     "watts")

# -- the worker itself
PROBE_DURATION = MetricDef("sitescout_probe_duration_seconds", "histogram", "How long each probe took.", ("kind",),
                           "seconds")
PROBE_ERRORS = MetricDef("sitescout_probe_errors_total", "counter", "Failed probes by kind and reason.",
                         ("kind", "reason"))
CONFIG_RELOAD_OK = _g("config_last_reload_successful", "1 when the last targets (re)load worked.")
CONFIG_RELOAD_TS = _g("config_last_reload_success_timestamp_seconds",
                      "Unix time of the last successful targets (re)load.", (), "seconds")
SITE_INFO = _g("site_info", "Where each site is (value 1), for maps.", ("site", "latitude", "longitude"))
WORKER_TARGETS = _g("worker_targets", "Targets this worker probes (its shard).", ("shard",))
WORKER_INFO = _g("worker_info", "The worker's version (value 1).", ("version",))

# -- the /probe service (its own series on /metrics; one per /probe answer)
PROBE_REQUESTS_REFUSED = MetricDef("sitescout_probe_requests_refused_total", "counter",
                                   "/probe requests refused (503): the module's limit of requests in flight was "
                                   "reached.", ("module",))
PROBE_REQUESTS_LIMIT = _g("probe_requests_limit", "/probe requests of the module allowed in flight at once.",
                          ("module",))
PROBE_FAILED = _g("probe_failed", "1 for the reason this probe failed.", ("reason",))
#: blackbox_exporter's own names, kept so blackbox dashboards and habits work on /probe.
PROBE_SUCCESS = MetricDef("probe_success", "gauge", "1 when the probe succeeded.")
PROBE_ELAPSED = MetricDef("probe_duration_seconds", "gauge", "How long the probe took.", (), "seconds")

#: Every metric, once.
METRICS: tuple[MetricDef, ...] = (
    DEVICE_UP,
    LINK_RTT,
    LINK_JITTER,
    LINK_LOSS,
    LINK_RTT_AVERAGE,
    LINK_SENT,
    ONVIF_UP,
    ONVIF_CLOCK_OFFSET,
    CAMERA_INFO,
    STREAM_UP,
    *(d for _, d in STREAM_VALUES),
    STREAM_INFO,
    SNMP_UP,
    SNMP_UPTIME,
    INTERFACE_UP,
    INTERFACE_ADMIN_UP,
    INTERFACE_UPLINK,
    INTERFACE_CAMERA,
    INTERFACE_SPEED,
    *(d for _, d in INTERFACE_COUNTERS),
    POE_DELIVERING,
    POE_POWER,
    POE_BUDGET,
    POE_CONSUMPTION,
    PROBE_DURATION,
    PROBE_ERRORS,
    CONFIG_RELOAD_OK,
    CONFIG_RELOAD_TS,
    SITE_INFO,
    WORKER_TARGETS,
    WORKER_INFO,
    PROBE_REQUESTS_REFUSED,
    PROBE_REQUESTS_LIMIT,
    PROBE_FAILED,
    PROBE_SUCCESS,
    PROBE_ELAPSED,
)
#: Definitions by name as queried (``sitescout_probe_errors_total``).
BY_NAME: dict[str, MetricDef] = {d.name: d for d in METRICS}
