"""A tiny SIP endpoint for the lab: answers OPTIONS on UDP 5060 like an IP paging receiver would.

Run in a lab namespace only (it binds the given lab address), for at most ``--for`` seconds::

    python -m sitescout.infra.lab.sip_responder --ip 198.51.100.102 --agent "IP Paging Speaker PS-20"

Every OPTIONS gets ``SIP/2.0 200 OK`` with the request's Via, From, To, Call-ID and CSeq, an
``Allow`` list and the given ``User-Agent``; anything else is ignored.  At most 100 answers a second.
"""

from __future__ import annotations

import argparse
import socket
import time

__all__ = ["answer", "main"]

_COPIED = ("via", "from", "to", "call-id", "cseq")


def answer(request: bytes, agent: str) -> bytes | None:
    """Return the 200 OK for an OPTIONS request, None for anything else."""
    text = request[:8192].decode("utf-8", "replace")
    lines = text.split("\r\n")
    if not lines[0].startswith("OPTIONS "):
        return None
    copied = [line for line in lines[1:] if line.partition(":")[0].strip().lower() in _COPIED]
    out = ["SIP/2.0 200 OK", *copied, "Allow: INVITE, ACK, CANCEL, OPTIONS, BYE", f"User-Agent: {agent}",
           "Accept: application/sdp", "Content-Length: 0", "", ""]
    return "\r\n".join(out).encode()


def main(argv: list[str] | None = None) -> int:
    """Serve until ``--for`` seconds have passed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ip", required=True)
    parser.add_argument("--port", type=int, default=5060)
    parser.add_argument("--agent", default="IP Paging Speaker (lab)")
    parser.add_argument("--for", dest="run_for", type=float, default=300.0)
    args = parser.parse_args(argv)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.ip, args.port))
    sock.settimeout(0.5)
    print("ready", flush=True)
    end, sent, second = time.monotonic() + args.run_for, 0, int(time.monotonic())
    while time.monotonic() < end:
        try:
            data, addr = sock.recvfrom(65535)
        except TimeoutError:
            continue
        now = int(time.monotonic())
        sent, second = (0, now) if now != second else (sent, second)
        reply = answer(data, args.agent)
        if reply is not None and sent < 100:
            sock.sendto(reply, addr)
            sent += 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
