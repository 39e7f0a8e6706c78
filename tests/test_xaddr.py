"""XAddr choice and URL hygiene, with XAddrs and URIs taken from the captures."""

from __future__ import annotations

from pathlib import Path

from sitescout.probes.onvif.soapxml import iter_local, parse_xml, text_local
from sitescout.probes.onvif.xaddr import (
    choose_xaddr,
    normalize_uri,
    rebase_url,
    repair_url,
    split_xaddrs,
    strip_credentials,
)

CAPTURES = Path(__file__).resolve().parents[1] / "infra" / "lab" / "captures"


def _first_text(rel: str, name: str) -> str:
    root = parse_xml((CAPTURES / rel).read_bytes())
    return text_local(iter_local(root, name)[0])


AXIS_M2025 = _first_text("probematch/axis_m2025le_onvifkotlin.xml", "XAddrs")
AXIS_APG = _first_text("probematch/axis_apg_example_onvifrs.xml", "XAddrs")
HIK_FISHEYE = _first_text("probematch/hikvision_ds2cd3955fwd_iws.xml", "XAddrs")


def test_split_space_and_newline_lists() -> None:
    urls = split_xaddrs(AXIS_M2025)
    assert urls == [
        "http://192.168.0.209/onvif/device_service",
        "https://192.168.0.209/onvif/device_service",
        "http://169.254.251.249/onvif/device_service",
        "https://169.254.251.249/onvif/device_service",
    ]
    assert split_xaddrs([AXIS_APG, AXIS_APG]) == ["http://169.254.76.145/onvif/services", "http://192.168.1.24/onvif/services"]


def test_prefers_reply_source_and_plain_http() -> None:
    choice = choose_xaddr(AXIS_M2025, "192.168.0.209")
    assert choice is not None
    assert choice.url == "http://192.168.0.209/onvif/device_service"
    assert not choice.rebased and choice.findings == []


def test_link_local_dropped_when_routable_exists() -> None:
    # APG example lists the 169.254 address first.
    choice = choose_xaddr(AXIS_APG, None)
    assert choice is not None and choice.url == "http://192.168.1.24/onvif/services"


def test_ipv6_link_local_dropped() -> None:
    choice = choose_xaddr(HIK_FISHEYE, None)
    assert choice is not None and choice.url == "http://192.168.0.218/onvif/device_service"


def test_link_local_used_only_when_nothing_else() -> None:
    choice = choose_xaddr("http://169.254.251.249/onvif/device_service", None)
    assert choice is not None and choice.url == "http://169.254.251.249/onvif/device_service"
    assert "link-local" in choice.findings[0]


def test_reply_from_link_local_source_matches() -> None:
    choice = choose_xaddr(AXIS_M2025, "169.254.251.249")
    assert choice is not None and choice.url == "http://169.254.251.249/onvif/device_service"


def test_nat_rebase_with_finding() -> None:
    # Axis Q6045-E: media URIs say 192.168.0.19, the device interface is 10.10.1.20.
    advertised = "http://192.168.0.19/onvif/device_service"
    choice = choose_xaddr(advertised, "198.51.100.12")
    assert choice is not None and choice.rebased
    assert choice.url == "http://198.51.100.12/onvif/device_service"
    assert choice.findings == ["advertised 192.168.0.19, answered from 198.51.100.12; using 198.51.100.12"]


def test_public_ip_xaddr_with_port_rebased_keeps_port() -> None:
    xaddr = _first_text("capabilities/univiewoem_sunba_perf_getcapabilities.xml", "XAddr")
    assert xaddr.startswith("http://162.191.54.181:80/")
    choice = choose_xaddr(xaddr, "203.0.113.40")
    assert choice is not None and choice.url.startswith("http://203.0.113.40:80/onvif/")


def test_zero_and_loopback_rebased_on_source() -> None:
    choice = choose_xaddr("http://0.0.0.0:8899/onvif/device_service", "198.51.100.3")
    assert choice is not None and choice.url == "http://198.51.100.3:8899/onvif/device_service"
    assert "unspecified" in choice.findings[0]
    choice = choose_xaddr("http://127.0.0.1/onvif/device_service http://192.168.1.9/onvif/device_service", None)
    assert choice is not None and choice.url == "http://192.168.1.9/onvif/device_service"


def test_loopback_allowed_when_reply_came_from_loopback() -> None:
    # The demo's simulated cameras live on 127.0.0.x.
    choice = choose_xaddr(
        "http://127.0.0.7:8081/onvif/device_service http://169.254.1.1/onvif/device_service", "127.0.0.7"
    )
    assert choice is not None and choice.url == "http://127.0.0.7:8081/onvif/device_service" and not choice.rebased
    choice = choose_xaddr("http://127.0.0.1:8081/onvif/device_service", "127.0.0.7")
    assert choice is not None and choice.url == "http://127.0.0.7:8081/onvif/device_service"


def test_double_port_repaired() -> None:
    # home-assistant/core#92603
    fixed, note = repair_url("http://192.168.1.106:8106:8106/onvif/Subscription?Idx=43")
    assert fixed == "http://192.168.1.106:8106/onvif/Subscription?Idx=43" and note
    choice = choose_xaddr("http://192.168.1.106:8106:8106/onvif/device_service", "192.168.1.106")
    assert choice is not None and choice.url == "http://192.168.1.106:8106/onvif/device_service"
    assert "repaired" in choice.findings[0]
    assert repair_url("http://192.168.1.104:80/onvif/device_service") == (
        "http://192.168.1.104:80/onvif/device_service",
        None,
    )


def test_nothing_usable() -> None:
    assert choose_xaddr([], "198.51.100.3") is None
    assert choose_xaddr("ftp://x/ http:123", None) is None
    choice = choose_xaddr("", None, fallback_host="203.0.113.5")
    assert choice is not None and choice.url == "http://203.0.113.5/onvif/device_service"


def test_fallback_host_rebases_when_no_reply_ip() -> None:
    choice = choose_xaddr("http://192.168.1.104:80/onvif/device_service", None, fallback_host="203.0.113.5")
    assert choice is not None and choice.url == "http://203.0.113.5:80/onvif/device_service"
    assert "operator gave 203.0.113.5" in choice.findings[0]


def test_rebase_url_media_and_ipv6() -> None:
    uri = _first_text("stream_uri/axis_q6045e_media1_streamuri.xml", "Uri")
    assert rebase_url(uri, "198.51.100.12") == (
        "rtsp://198.51.100.12/onvif-media/media.amp?profile=profile_1_jpeg&sessiontimeout=60&streamtype=unicast"
    )
    assert rebase_url("http://192.168.1.127:85/images/snapshot.jpg", "198.51.100.4") == "http://198.51.100.4:85/images/snapshot.jpg"
    assert rebase_url("http://h/x", "fe80::1", 8080) == "http://[fe80::1]:8080/x"


def test_strip_credentials_xmeye_snapshot() -> None:
    uri = normalize_uri(_first_text("snapshot_uri/xmeye_sunba405_media1_snapshoturi.xml", "Uri"))
    assert "41f2kjt8" in uri
    clean = strip_credentials(uri)
    assert "41f2kjt8" not in clean and "admin" not in clean
    assert clean == "http://192.168.15.40/webcapture.jpg?command=snap&channel=1&user=REDACTED&password=REDACTED"


def test_strip_credentials_userinfo_and_path_params() -> None:
    assert strip_credentials("rtsp://admin:s3cret@198.51.100.2:554/Streaming/Channels/101") == (
        "rtsp://198.51.100.2:554/Streaming/Channels/101"
    )
    path_style = "rtsp://192.168.15.40:554/user=admin_password=hunter2_channel=1_stream=0.sdp?real_stream"
    clean = strip_credentials(path_style)
    assert "hunter2" not in clean and "admin" not in clean and clean.endswith("_channel=1_stream=0.sdp?real_stream")
    untouched = _first_text("stream_uri/dahua_go2rtc.xml", "Uri")
    assert strip_credentials(untouched) == untouched


def test_normalize_uri_go2rtc_whitespace() -> None:
    raw = _first_text("stream_uri/unknown_mc1prefix_go2rtc.xml", "Uri")
    assert normalize_uri(raw) == "rtsp://192.168.5.53:8090/profile1=r"
    assert normalize_uri("rtsp://10.10.1.60:554/Streaming/\n   Channels/3") == "rtsp://10.10.1.60:554/Streaming/Channels/3"
