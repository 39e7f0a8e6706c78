"""The simulated camera against hand-built SOAP and WS-Discovery traffic on loopback (no root)."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from lxml import etree
from support import free_port

from sitescout.infra.lab.camera import CameraServer
from sitescout.infra.lab.personas import load_persona

USER, PASSWORD = "admin", "Lab-pass-1"
_next_ip = iter(range(10, 250))


@pytest.fixture
def make_camera() -> Iterator:
    started: list[CameraServer] = []

    def make(persona: str = "hikvision_ds2cd2012i", **kw: object) -> CameraServer:
        ip = f"127.0.7.{next(_next_ip)}"
        kw.setdefault("discovery", "unicast")
        cam = CameraServer(persona, ip, onvif_port=free_port(ip), rtsp_port=8554, **kw)  # type: ignore[arg-type]
        cam.start()
        started.append(cam)
        return cam

    yield make
    for cam in started:
        cam.stop()


def _wsse(user: str, password: str, created: datetime, text: bool = False) -> str:
    nonce = os.urandom(16)
    stamp = created.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if text:
        pwd, ptype = password, "PasswordText"
    else:
        pwd = base64.b64encode(hashlib.sha1(nonce + stamp.encode() + password.encode()).digest()).decode()
        ptype = "PasswordDigest"
    return (
        '<s:Header><wsse:Security '
        'xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" '
        'xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">'
        f"<wsse:UsernameToken><wsse:Username>{user}</wsse:Username>"
        f'<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#{ptype}">{pwd}</wsse:Password>'
        f'<wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary">{base64.b64encode(nonce).decode()}</wsse:Nonce>'
        f"<wsu:Created>{stamp}</wsu:Created></wsse:UsernameToken></wsse:Security></s:Header>"
    )


def _envelope(body: str, header: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            f'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:trt="http://www.onvif.org/ver10/media/wsdl">'
            f"{header}<s:Body>{body}</s:Body></s:Envelope>").encode()


def _post(url: str, data: bytes, headers: dict[str, str] | None = None, timeout: float = 5) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, data, {"Content-Type": "application/soap+xml; charset=utf-8", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def _text(data: bytes, name: str) -> str:
    root = etree.fromstring(data)
    return next((el.text or "").strip() for el in root.iter() if etree.QName(el).localname == name)


def _camera_clock(cam: CameraServer) -> datetime:
    status, _, body = _post(cam.device_url, _envelope("<tds:GetSystemDateAndTime/>"))
    assert status == 200
    utc = next(el for el in etree.fromstring(body).iter() if etree.QName(el).localname == "UTCDateTime")
    v = {etree.QName(el).localname: int(el.text) for el in utc.iter() if el.text and el.text.strip().isdigit()}
    return datetime(v["Year"], v["Month"], v["Day"], v["Hour"], v["Minute"], v["Second"], tzinfo=timezone.utc)


def _probe(ip: str, types: str = "dn:NetworkVideoTransmitter") -> tuple[str, bytes]:
    msg_id = f"uuid:{uuid.uuid4()}"
    probe = (
        '<?xml version="1.0" encoding="UTF-8"?><e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:w="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
        'xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><e:Header>'
        f"<w:MessageID>{msg_id}</w:MessageID><w:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</w:To>"
        "<w:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</w:Action></e:Header>"
        f"<e:Body><d:Probe><d:Types>{types}</d:Types></d:Probe></e:Body></e:Envelope>"
    )
    return msg_id, probe.encode()


def test_ws_discovery_probe_match(make_camera) -> None:
    cam = make_camera("axis_q6045e", endpoint_uuid="5f0b6f4e-1111-4222-8333-444455556666")
    msg_id, probe = _probe(cam.ip)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.bind(("127.0.0.1", 0))
        s.sendto(probe, (cam.ip, 3702))
        data, addr = s.recvfrom(65535)
    assert addr == (cam.ip, 3702)
    assert _text(data, "RelatesTo") == msg_id
    assert _text(data, "MessageID") != msg_id
    assert _text(data, "Address") == "urn:uuid:5f0b6f4e-1111-4222-8333-444455556666" == cam.endpoint
    xaddrs = _text(data, "XAddrs").split()
    assert xaddrs[0] == cam.device_url
    assert any("169.254." in x for x in xaddrs)  # the Axis envelope's link-local extras are kept
    assert "onvif://www.onvif.org/hardware/AXIS%20Q6045-E" in _text(data, "Scopes").split()


def test_ws_discovery_ignores_other_types(make_camera) -> None:
    cam = make_camera()
    _, probe = _probe(cam.ip, types="p:Printer")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        s.bind(("127.0.0.1", 0))
        s.sendto(probe, (cam.ip, 3702))
        with pytest.raises(TimeoutError):
            s.recvfrom(65535)


def test_device_information_with_and_without_auth(make_camera) -> None:
    cam = make_camera(credentials=(USER, PASSWORD))
    gdi = "<tds:GetDeviceInformation/>"
    status, headers, _ = _post(cam.device_url, _envelope(gdi))
    assert status == 401 and headers["WWW-Authenticate"].startswith("Digest ")
    status, _, body = _post(cam.device_url, _envelope(gdi, _wsse(USER, PASSWORD, _camera_clock(cam))))
    assert status == 200 and _text(body, "Model") == "DS-2CD2012-I"
    status, _, body = _post(cam.device_url, _envelope(gdi, _wsse(USER, PASSWORD, _camera_clock(cam), text=True)))
    assert status == 200 and _text(body, "SerialNumber") == "DS-2CD2012-I20150201CCWR501088621"
    status, _, body = _post(cam.device_url, _envelope(gdi, _wsse(USER, "wrong", _camera_clock(cam))))
    assert status == 401 and b"ter:NotAuthorized" in body  # Hikvision family: NotAuthorized with 401
    assert cam.failed_auth_attempts == 1
    assert [e["username"] for e in cam.auth_log] == [USER, USER, USER]
    assert PASSWORD not in repr(list(cam.auth_log)) + repr(cam)


def test_no_credentials_means_open(make_camera) -> None:
    cam = make_camera("bosch_flexidome5100i")
    status, _, body = _post(cam.device_url, _envelope("<tds:GetDeviceInformation/>"))
    assert status == 200 and _text(body, "Manufacturer") == "Bosch"


def test_wsse_only_missing_token_is_not_authorized(make_camera) -> None:
    cam = make_camera("axis_q6045e", credentials=(USER, PASSWORD), auth="wsse")
    status, _, body = _post(cam.device_url, _envelope("<tds:GetDeviceInformation/>"))
    assert status == 400 and b"ter:NotAuthorized" in body and b"Sender not authorized" in body


def test_clock_skew(make_camera) -> None:
    cam = make_camera("axis_q6045e", credentials=(USER, PASSWORD), clock_skew_s=-7200.0)
    offset = (_camera_clock(cam) - datetime.now(timezone.utc)).total_seconds()
    assert -7202 < offset < -7198
    gdi = "<tds:GetDeviceInformation/>"
    status, _, body = _post(cam.device_url, _envelope(gdi, _wsse(USER, PASSWORD, datetime.now(timezone.utc))))
    assert status == 400 and b"NotAuthorized" in body
    skewed = datetime.now(timezone.utc) + timedelta(seconds=offset)
    status, _, body = _post(cam.device_url, _envelope(gdi, _wsse(USER, PASSWORD, skewed)))
    assert status == 200 and _text(body, "Model") == "AXIS Q6045-E"


def _digest_opener(cam: CameraServer, password: str = PASSWORD) -> urllib.request.OpenerDirector:
    mgr = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    mgr.add_password(None, f"http://{cam.ip}:{cam.onvif_port}/", USER, password)
    return urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(mgr))


def test_http_digest_and_digest_only_mode(make_camera) -> None:
    cam = make_camera(credentials=(USER, PASSWORD), auth="digest")
    gdi = _envelope("<tds:GetDeviceInformation/>", _wsse(USER, PASSWORD, _camera_clock(cam)))
    status, _, _ = _post(cam.device_url, gdi)
    assert status == 401  # digest mode ignores WS-Security
    req = urllib.request.Request(cam.device_url, gdi, {"Content-Type": "application/soap+xml"})
    with _digest_opener(cam).open(req, timeout=5) as r:
        assert r.status == 200 and _text(r.read(), "Manufacturer") == "HIKVISION"
    assert cam.auth_log[-1]["method"] == "digest" and cam.auth_log[-1]["outcome"] == "ok"


def test_unknown_action_fault(make_camera) -> None:
    cam = make_camera("generic_ipdh4k8m05")
    status, _, body = _post(cam.device_url, _envelope("<tds:GetStorageConfigurations/>"))
    assert status == 500 and b"Method 'GetStorageConfigurations' not implemented" in body
    cam2 = make_camera("hikvision_ds2df7276ael")
    status, _, body = _post(cam2.device_url, _envelope("<tds:GetScopes/>"))
    assert status == 500 and b"ter:ActionNotSupported" in body


def test_stream_uri_rewritten_and_unknown_profile(make_camera) -> None:
    cam = make_camera("trendnet_tvip320pi")
    media = cam.device_url.replace("device_service", "Media")
    status, _, body = _post(
        media, _envelope("<trt:GetStreamUri><trt:ProfileToken>Profile_1</trt:ProfileToken></trt:GetStreamUri>")
    )
    assert status == 200
    assert _text(body, "Uri") == f"rtsp://{cam.ip}:8554/Streaming/Channels/102?transportmode=unicast&profile=Profile_2"
    status, _, body = _post(
        media, _envelope("<trt:GetStreamUri><trt:ProfileToken>nope</trt:ProfileToken></trt:GetStreamUri>")
    )
    assert status == 400 and b"ter:NoProfile" in body
    status, _, body = _post(cam.device_url, _envelope("<tds:GetNetworkInterfaces/>"))
    assert cam.ip.encode() in body and b"3c:8c:f8:a1:32:dc" in body


def test_snapshot_jpeg_behind_digest(make_camera) -> None:
    cam = make_camera("bosch_flexidome5100i", credentials=(USER, PASSWORD))
    url = f"http://{cam.ip}:{cam.onvif_port}/snap.jpg?JpegCam=1"
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url, timeout=5)
    assert err.value.code == 401
    with _digest_opener(cam).open(url, timeout=5) as r:
        data = r.read()
        assert r.headers["Content-Type"] == "image/jpeg"
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"


def test_lockout_after_failures(make_camera) -> None:
    cam = make_camera("axis_q6045e", credentials=(USER, PASSWORD))
    gdi = "<tds:GetDeviceInformation/>"
    for _ in range(5):
        status, _, _ = _post(cam.device_url, _envelope(gdi, _wsse(USER, "guess", _camera_clock(cam))))
        assert status == 400
    status, _, body = _post(cam.device_url, _envelope(gdi, _wsse(USER, PASSWORD, _camera_clock(cam))))
    assert status == 400 and b"NotAuthorized" in body  # locked: good credentials refused
    assert cam.failed_auth_attempts == 6
    assert [e["outcome"] for e in cam.auth_log][-1] == "locked"


def test_hostile_modes(make_camera) -> None:
    gdi = _envelope("<tds:GetDeviceInformation/>")
    bomb = make_camera(hostile="bomb")
    assert b"<!ENTITY lol9" in _post(bomb.device_url, gdi)[2]
    xxe = make_camera(hostile="xxe")
    assert b"file:///etc/passwd" in _post(xxe.device_url, gdi)[2]
    garbage = make_camera(hostile="garbage")
    body = _post(garbage.device_url, gdi)[2]
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    utf16 = make_camera(hostile="utf16decl")
    body = _post(utf16.device_url, gdi)[2]
    assert body.startswith(b'<?xml version="1.0" encoding="utf-16"?>') and b"DS-2CD2012-I" in body
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(body)
    hang = make_camera(hostile="hang")
    with pytest.raises(TimeoutError):
        _post(hang.device_url, gdi, timeout=0.5)


def test_hostile_huge_and_slow(make_camera) -> None:
    gdi = _envelope("<tds:GetDeviceInformation/>")
    huge = make_camera(hostile="huge")
    conn = http.client.HTTPConnection(huge.ip, huge.onvif_port, timeout=5)
    conn.request("POST", "/onvif/device_service", gdi, {"Content-Type": "application/soap+xml"})
    resp = conn.getresponse()
    assert int(resp.headers["Content-Length"]) == 100 * 1024 * 1024
    assert len(resp.read(1 << 20)) == 1 << 20
    conn.close()
    slow = make_camera(hostile="slow")
    conn = http.client.HTTPConnection(slow.ip, slow.onvif_port, timeout=2.5)
    conn.request("POST", "/onvif/device_service", gdi, {"Content-Type": "application/soap+xml"})
    resp = conn.getresponse()
    started = time.monotonic()
    first = resp.read(2)
    assert len(first) == 2 and time.monotonic() - started > 1.0
    conn.close()


def test_hostile_encodings_soap11_and_snapshots(make_camera) -> None:
    gdi = _envelope("<tds:GetDeviceInformation/>")
    bad = make_camera(hostile="bad_utf8")
    body = _post(bad.device_url, gdi)[2]
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert re.search(rb"Model>DS-2CD2012-I</", body)  # the markup is intact: only the text is broken
    assert etree.fromstring(body.decode("utf-8", "replace").encode()) is not None
    soap11 = make_camera(hostile="soap11", credentials=(USER, PASSWORD), auth="wsse")
    status, headers, body = _post(soap11.device_url, gdi)
    assert status == 401 and headers["Content-Type"].startswith("text/xml")  # this persona faults with 401
    assert b"http://schemas.xmlsoap.org/soap/envelope/" in body and b"2003/05/soap-envelope" not in body
    assert _text(body, "faultcode").endswith("NotAuthorized") and _text(body, "faultstring")
    chunked = make_camera(hostile="huge_chunked")
    conn = http.client.HTTPConnection(chunked.ip, chunked.onvif_port, timeout=5)
    conn.request("POST", "/onvif/device_service", gdi, {"Content-Type": "application/soap+xml"})
    resp = conn.getresponse()
    assert resp.headers["Transfer-Encoding"] == "chunked" and resp.headers["Content-Length"] is None
    assert len(resp.read(4 << 20)) == 4 << 20
    conn.close()
    endless = make_camera(hostile="snapshot_endless")
    snapshot = endless.identity["profiles"][0]["snapshot_uri"]
    with urllib.request.urlopen(snapshot, timeout=5) as r:
        assert r.headers["Content-Type"] == "image/jpeg" and r.headers["Content-Length"] is None
        data = r.read(16 << 20)
    assert len(data) == 16 << 20 and data.startswith(b"\xff\xd8")


def test_wsd_flood(make_camera) -> None:
    cam = make_camera(hostile="wsd_flood")
    _, probe = _probe(cam.ip)
    endpoints: set[str] = set()
    count = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        s.settimeout(1.0)
        s.bind(("127.0.0.1", 0))
        s.sendto(probe, (cam.ip, 3702))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                data = s.recv(65535)
            except TimeoutError:
                break
            count += 1
            m = re.search(rb"<wsadis:Address>([^<]+)<", data)
            if m:
                endpoints.add(m.group(1).decode())
    assert count > 1000 and len(endpoints) > 500 and count > len(endpoints)


def test_cli_ready_and_sigterm() -> None:
    ip = "127.0.7.251"
    port = free_port(ip)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sitescout.infra.lab.camera", "--persona", "dlink_dcs6511", "--ip", ip,
         "--onvif-port", str(port), "--discovery", "unicast", "--user", USER, "--password", PASSWORD],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("ready ") and f"http://{ip}:{port}/onvif/device_service" in line
        status, _, body = _post(f"http://{ip}:{port}/onvif/device_service", _envelope("<tds:GetSystemDateAndTime/>"))
        assert status == 200 and b"UTCDateTime" in body
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert PASSWORD not in proc.stderr.read()  # type: ignore[union-attr]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_multicast_refused_outside_lab_ranges() -> None:
    with pytest.raises(ValueError, match="multicast"):
        CameraServer("axis_q6045e", "127.0.7.252", discovery="multicast")


def test_expected_identity_matches_served_stream_paths() -> None:
    persona = load_persona("univiewoem_sunba_perf")
    assert persona.stream_paths() == ["/media/video1"]
    assert "GetStreamUri" in persona.missing  # only the Media2 stream URI was captured


@pytest.mark.netns
def test_multicast_probe_inside_namespace() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root for ip netns")
    ns = f"ssc_cam_{os.getpid()}"
    run = lambda *cmd: subprocess.run(["ip", "netns", "exec", ns, *cmd], check=True, timeout=10)  # noqa: E731
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=10)
    try:
        run("ip", "link", "set", "lo", "up")
        run("ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        run("ip", "link", "set", "v1", "up")
        run("ip", "link", "set", "v0", "up")
        run("ip", "addr", "add", "198.51.100.10/24", "dev", "v0")
        run("ip", "route", "add", "224.0.0.0/4", "dev", "v0")
        script = (
            "import socket,sys\n"
            "from sitescout.infra.lab.camera import CameraServer\n"
            "cam=CameraServer('hikoem_enp1a14','198.51.100.10',onvif_port=8080,discovery='multicast');cam.start()\n"
            "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(3)\n"
            "s.setsockopt(socket.IPPROTO_IP,socket.IP_MULTICAST_IF,socket.inet_aton('198.51.100.10'))\n"
            "s.bind(('198.51.100.10',0));s.sendto(sys.stdin.buffer.read(),('239.255.255.250',3702))\n"
            "sys.stdout.buffer.write(s.recvfrom(65535)[0]);cam.stop()\n"
        )
        msg_id, probe = _probe("198.51.100.10")
        out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", script], input=probe,
                             capture_output=True, check=True, timeout=20).stdout
        assert _text(out, "RelatesTo") == msg_id
        assert _text(out, "XAddrs").split()[0] == "http://198.51.100.10:8080/onvif/device_service"
    finally:
        subprocess.run(["ip", "netns", "del", ns], timeout=10)
