"""Where `sitescout demo`'s simulated site lives: its network, ports, personas and names.

Shared by the simulated site (:mod:`sitescout.demo`) and the product run on it
(:mod:`sitescout.demo_product`), so neither imports the other's constants.
"""

from __future__ import annotations

__all__ = [
    "DEMO_NETWORK",
    "ONVIF_PORT",
    "STREAM_PORT",
    "DEMO_PERSONAS",
    "DEMO_PLAIN_HOSTS",
    "DEMO_USER",
    "FROZEN_CAMERA",
    "SURVEYED_SITE",
    "WEB_LISTEN",
    "METRICS_LISTEN",
]

#: The demo site: cameras from .17, plain hosts from .28; nothing else listens there.
DEMO_NETWORK = "127.0.0.16/28"
ONVIF_PORT = 8000
STREAM_PORT = 8554
DEMO_PERSONAS = (
    "hikvision_ds2cd2012i", "axis_q6045e", "bosch_flexidome5100i", "trendnet_tvip320pi",
    "hikoem_enp1a14", "univiewoem_sunba_perf", "generic_ipdh4k8m05", "xmeye_sunba405",
    "hikvision_ds2df7276ael", "dlink_dcs6511", "univiewoem_gx728mf", "hikvision_ds2cd2012i",
)
DEMO_PLAIN_HOSTS = (("switch", 28), ("loudspeaker", 29), ("pc", 30))
#: The demo's one protected camera (index 0) uses this account; the password is
#: written only to the temporary credentials file the survey reads.
DEMO_USER = "admin"
#: The demo's one faulty camera: its stream is a frozen picture, so the map shows a problem.
FROZEN_CAMERA = 2
#: The surveyed site of the demo commune, and the village halls the other simulated cameras stand in.
SURVEYED_SITE = "Nhà văn hóa Thôn Đồng Bùa"
WEB_LISTEN = ("127.0.0.1", 8080)
METRICS_LISTEN = ("127.0.0.1", 9110)
