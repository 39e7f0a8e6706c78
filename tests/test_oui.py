"""MAC to vendor from the bundled IEEE registry."""

from __future__ import annotations

import pytest

from sitescout.probes.net.oui import vendor_for_mac


@pytest.mark.parametrize(("mac", "vendor"), [
    ("00:40:8c:12:34:56", "Axis Communications AB"),
    ("AC:CC:8E:00:00:01", "Axis Communications AB"),
    ("44:19:b6:00:00:01", "Hangzhou Hikvision Digital Technology Co.,Ltd."),
    ("44-19-B6-00-00-01", "Hangzhou Hikvision Digital Technology Co.,Ltd."),
    ("4419.b600.0001", "Hangzhou Hikvision Digital Technology Co.,Ltd."),
    ("4419b6000001", "Hangzhou Hikvision Digital Technology Co.,Ltd."),
    ("3c:ef:8c:00:00:00", "Zhejiang Dahua Technology Co., Ltd."),
])
def test_known_vendors(mac: str, vendor: str) -> None:
    assert vendor_for_mac(mac) == vendor


@pytest.mark.parametrize("mac", [
    "02:00:00:00:00:01",  # locally administered (lab, VMs)
    "da:a1:19:00:00:01",  # a phone's random MAC
    "01:00:5e:00:00:fb",  # multicast
    "ff:ff:ff:ff:ff:ff",
    "00:00:00:00:00:00",
    "00:40:8c",  # too short (netaddr alone would read an integer)
    "00:40:8c:12:34:56:78",
    "00:40:8c-12:34:56",
    "zz:zz:zz:zz:zz:zz",
    "",
    None,
    12345,
])
def test_no_vendor_for_random_group_or_malformed(mac: object) -> None:
    assert vendor_for_mac(mac) is None  # type: ignore[arg-type]
