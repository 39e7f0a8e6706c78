"""FFmpeg and the stream pre-flight look alike, and a same-host redirect to another port gets nothing.

Issue #11, class 1, the remaining stream cases, on real servers (infra/lab/rtsp_hostile.py):

- ``ua-split``: the hostile server answers the first User-Agent it sees with a Digest challenge and
  any other with Basic.  The pre-flight sent ``sitescout`` and FFmpeg its own ``Lavf…``, so the
  pre-flight approved Digest and FFmpeg then handed over the password in Basic.  Now the server
  sees one User-Agent and never a Basic header.
- ``udp-then-basic``: Digest over TCP, 461 for RTP over TCP, then Basic for the UDP re-open,
  which FFmpeg answered with the password in clear; the pre-flight now runs before that re-open.
- ``redirect-other`` to the same address on another port (at a NAT'd site, another camera): the
  pre-flight followed it with the credentials; now the check stops and that port gets nothing.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from sitescout.infra.lab.rtsp_hostile import HostileRtspServer
from sitescout.probes.credentials import Credential
from sitescout.probes.stream.check import StreamChecker, StreamJob

USER, SECRET = "admin", "ua-Split-Secret"
CREDS = Credential(USER, SECRET)
BASIC = base64.b64encode(f"{USER}:{SECRET}".encode()).decode()


@pytest.fixture(scope="module")
def checker() -> Iterator[StreamChecker]:
    pytest.importorskip("cv2")
    with StreamChecker(1) as c:
        yield c


def test_a_server_cannot_tell_ffmpeg_from_the_preflight_by_user_agent(checker: StreamChecker) -> None:
    with HostileRtspServer("127.0.0.5", 0, credentials=(USER, SECRET)) as server:
        result = checker.check(StreamJob(server.url("ua-split"), 15, (320, 240), CREDS))
        agents = {ua for mode, ua in server.user_agents if mode == "ua-split"}
        sent = [value for _, value in server.authorizations]
    assert len(agents) == 1, agents  # pre-flight and FFmpeg: one User-Agent value
    assert not any(value.startswith("Basic ") or BASIC in value or SECRET in value for value in sent), sent
    assert result.up and result.error is None, result  # and FFmpeg got in with Digest
    assert sent and all(value.startswith("Digest ") for value in sent), sent


def test_a_redirect_to_another_port_of_the_same_host_gets_no_credentials(checker: StreamChecker) -> None:
    with HostileRtspServer("127.0.0.6", 0, default_mode="digest-only") as other_port, \
            HostileRtspServer("127.0.0.6", 0, credentials=(USER, SECRET),
                              redirect_to=other_port.url("digest-only", "stolen")) as camera:
        assert camera.port != other_port.port
        result = checker.check(StreamJob(camera.url("redirect-other"), 15, None, CREDS, allow_plaintext_auth=True))
        leaked = other_port.authorizations
    assert not result.up and result.error is not None
    assert "another port or scheme" in result.error, result.error
    assert leaked == []  # neither the password nor a digest of it


def test_the_udp_reopen_is_preflighted_again(checker: StreamChecker) -> None:
    with HostileRtspServer("127.0.0.7", 0, credentials=(USER, SECRET)) as server:
        result = checker.check(StreamJob(server.url("udp-then-basic"), 15, None, CREDS))
        sent = [value for _, value in server.authorizations]
        refused_tcp = server._hostile.refused_tcp
    assert refused_tcp, "the TCP attempt never reached SETUP"
    assert not any(value.startswith("Basic ") or BASIC in value for value in sent), sent
    assert not result.up and result.error is not None and result.error.startswith("auth: "), result
