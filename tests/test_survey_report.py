"""The printable survey report: findings from a document, escaping, diacritics."""

from __future__ import annotations

from sitescout.inventory.survey_report import render_survey_html, survey_findings


def _doc() -> dict:
    return {
        "site": "Thôn Đồng Bùa",
        "started_at": "2026-11-29T10:00:00+00:00",
        "finished_at": "2026-11-29T10:01:00+00:00",
        "networks": ["198.51.100.0/24"],
        "hosts": [
            {
                "ip": "198.51.100.10", "mac": "44:19:b6:00:00:01", "vendor": "Hangzhou Hikvision",
                "open_ports": [80, 554], "kind": "camera", "link": None, "streams": [], "errors": [],
                "onvif": {
                    "endpoint": "urn:uuid:1", "xaddrs": [], "scopes": [], "manufacturer": "HIKVISION",
                    "model": "DS-2CD2012-I", "firmware": "V5.2.0", "serial": "S1", "hardware_id": "88",
                    "clock_offset_s": 3 * 86400.0, "auth": "ok", "findings": [],
                    "profiles": [{"token": "Profile_1", "name": "<main>", "encoding": "H264", "width": 1280,
                                  "height": 720, "fps_limit": 25.0, "bitrate_kbps": 4096,
                                  "stream_uri": "rtsp://198.51.100.10/Streaming/Channels/101",
                                  "snapshot_uri": None}],
                },
            },
            {"ip": "198.51.100.11", "mac": None, "vendor": None, "open_ports": [], "kind": "host",
             "link": None, "onvif": None, "streams": [], "errors": []},
            {"ip": "198.51.100.12", "mac": None, "vendor": None, "open_ports": [80], "kind": "camera",
             "link": None, "streams": [], "errors": ["onvif: timeout: no answer within 20 s"],
             "onvif": {"endpoint": "urn:uuid:2", "auth": "required", "profiles": [], "findings": [],
                       "clock_offset_s": 0.2}},
        ],
    }


def test_findings_name_skew_auth_unknown_and_errors() -> None:
    found = {(f.host, f.severity, f.text) for f in survey_findings(_doc())}
    assert ("198.51.100.10", "warning", "camera clock is off by +3.0 days") in found
    assert ("198.51.100.12", "warning", "camera needs credentials and none were given") in found
    assert ("198.51.100.11", "info", "unknown device (no vendor, no open ports)") in found
    # the stored error "onvif: timeout: no answer within 20 s", rendered from its kind (inventory/findings.py)
    assert ("198.51.100.12", "warning", "ONVIF: no answer in time") in found
    assert not any(h == "198.51.100.12" and "clock" in t for h, _, t in found)


def test_report_escapes_device_text_and_keeps_diacritics() -> None:
    html = render_survey_html(_doc())
    assert "Thôn Đồng Bùa" in html
    assert "&lt;main&gt;" in html and "<main>" not in html
    assert "rtsp://198.51.100.10/Streaming/Channels/101" in html
    assert html.count("<tr>") >= 1 + 3 + 1 + 3 + 1
