"""Safe, lenient XML parsing for SOAP and WS-Discovery replies from cameras.

Safe: no DTD, no entity expansion, no network, bounded size; any document that
carries a DOCTYPE is refused outright (billion laughs, XXE).

Lenient where real devices are non-conformant.  Each tolerance names the device
or issue that needs it:

* a UTF-8/UTF-16 byte-order mark or whitespace before the XML declaration
  (``scopes/multivendor_scopes_onvifdiscovery.json`` starts with a BOM;
  ``probematch/axis_apg_example_onvifrs.xml`` is indented);
* ``encoding="utf-16"`` declared on ASCII bytes: the declaration is ignored
  when the bytes are not UTF-16 (``capabilities/unknown_encoder_utf16decl_agsh.xml``,
  agsh/onvif mock; lxml and zeep reject it);
* invalid UTF-8 and XML-illegal control characters are replaced with U+FFFD
  (home-assistant/core ``onvif/device.py`` tolerates invalid UTF-8 in
  GetDeviceInformation);
* unbound namespace prefixes are declared with dummy namespaces
  ``urn:sitescout:unbound:<prefix>`` and the document re-parsed
  (``probematch/hikvision_dfi6256te_kerberos.xml``, kerberos-io/onvif and the
  EdgeX device-onvif-camera docs);
* a root start tag with unparseable attributes keeps only its well-formed ones
  (``stream_uri/unknown_mc1prefix_go2rtc.xml``, AlexxIT/go2rtc onvif_test.go);
* a bare ``&`` in text is escaped (home-assistant/core ``onvif/device.py``
  tolerates invalid XML in GetDeviceInformation).

libxml2's recover mode is deliberately not used: it silently accepts truncated
replies, which must be reported as malformed instead.

Callers therefore read documents namespace-agnostically, by local name:
:func:`find_local`, :func:`findall_local`, :func:`iter_local`, :func:`text_local`.
"""

from __future__ import annotations

import codecs
import logging
import re
from dataclasses import dataclass, field

from lxml import etree

from sitescout.probes.errors import MalformedError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "SoapFault",
    "parse_xml",
    "localname",
    "find_local",
    "findall_local",
    "iter_local",
    "text_local",
    "soap_fault",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 2_000_000
UNBOUND_NS_PREFIX = "urn:sitescout:unbound:"

_SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
_SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"

_XML_DECL = re.compile(r"^\s*<\?xml\b[^>]*?\?>", re.S)
_DECL_ENCODING = re.compile(rb"^\s*<\?xml\b[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']", re.S)
_DOCTYPE = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.I)
_ILLEGAL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_NAME = r"[A-Za-z_][\w.\-]*"
_ROOT_START = re.compile(r"<(" + _NAME + r"(?::" + _NAME + r")?)((?:[^>\"']|\"[^\"]*\"|'[^']*')*?)(/?)>")
_GOOD_ATTR = re.compile(r"(" + _NAME + r"(?::" + _NAME + r")?)\s*=\s*(\"[^\"<]*\"|'[^'<]*')")
_START_TAG = re.compile(r"<(" + _NAME + r"(?::" + _NAME + r")?)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>")
_END_TAG_PREFIX = re.compile(r"</(" + _NAME + r"):")
_ATTR_NAME_PREFIX = re.compile(r"\s(" + _NAME + r"):" + _NAME + r"\s*=")
_BARE_AMP = re.compile(r"&(?!(?:" + _NAME + r"|#[0-9]+|#x[0-9A-Fa-f]+);)")
_DECLARED = re.compile(r"xmlns:(" + _NAME + r")\s*=")


@dataclass
class SoapFault:
    """A SOAP 1.1 or 1.2 Fault: code and subcodes as sent (``ter:NotAuthorized``), reason text."""

    code: str
    subcodes: list[str] = field(default_factory=list)
    reason: str = ""
    detail: str = ""
    soap_version: str = "1.2"

    def has_code(self, name: str) -> bool:
        """Return True if the code or any subcode has this local name (``NotAuthorized``)."""
        wanted = name.split(":")[-1].lower()
        return any(c.split(":")[-1].lower() == wanted for c in [self.code, *self.subcodes])


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_pis=True,
        recover=False,
    )


def _decode(data: bytes) -> str:
    """Decode device bytes to text, ignoring declarations that lie about the encoding."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    head = data[:4]
    if head.startswith(b"<\x00") and not head.startswith(b"<\x00\x00"):
        return data.decode("utf-16-le", errors="replace")
    if head.startswith(b"\x00<"):
        return data.decode("utf-16-be", errors="replace")
    encoding = "utf-8"
    m = _DECL_ENCODING.match(data[:400])
    if m:
        declared = m.group(1).decode("ascii", "replace").lower()
        try:
            name = codecs.lookup(declared).name
        except LookupError:
            name = "utf-8"
        # utf-16/32 declared on bytes that are not UTF-16/32 (agsh/onvif mock): the bytes win.
        if not name.startswith(("utf-16", "utf-32", "utf_16", "utf_32")):
            encoding = name
    return data.decode(encoding, errors="replace")


def _declare_unbound(text: str) -> str:
    """Keep only well-formed root attributes and declare every prefix that is used but unbound."""
    m = _ROOT_START.search(text)
    if m is None:
        return text
    root_name, attrs, selfclose = m.group(1), m.group(2), m.group(3)
    good = " ".join(f"{k}={v}" for k, v in _GOOD_ATTR.findall(attrs))
    declared = set(_DECLARED.findall(text)) | {"xml", "xmlns"}
    used: list[str] = []
    for tag in _START_TAG.finditer(text):
        name = tag.group(1)
        if ":" in name:
            used.append(name.split(":", 1)[0])
        used.extend(_ATTR_NAME_PREFIX.findall(" " + tag.group(2)))
    used.extend(_END_TAG_PREFIX.findall(text))
    missing = sorted({p for p in used if p not in declared})
    extra = " ".join(f'xmlns:{p}="{UNBOUND_NS_PREFIX}{p}"' for p in missing)
    new_start = "<" + root_name + (" " + good if good else "") + (" " + extra if extra else "") + selfclose + ">"
    return text[: m.start()] + new_start + text[m.end():]


def parse_xml(
    data: bytes | bytearray | memoryview | str, *, max_bytes: int = DEFAULT_MAX_BYTES, target: str = "device"
) -> etree._Element:
    """Parse a device reply safely and leniently; raise MalformedError with the reason when impossible."""
    if isinstance(data, str):
        raw = data.encode("utf-8", errors="replace")
    else:
        raw = bytes(data)
    if len(raw) > max_bytes:
        raise MalformedError(target, f"XML body of {len(raw)} bytes exceeds the {max_bytes}-byte limit")
    text = _decode(raw)
    text = _XML_DECL.sub("", text, count=1).lstrip()
    if not text:
        raise MalformedError(target, "empty XML body")
    if _DOCTYPE.search(text):
        raise MalformedError(target, "XML with a DOCTYPE or ENTITY declaration is refused (entity expansion risk)")
    text = _ILLEGAL_CHARS.sub("\ufffd", text)
    body = text.encode("utf-8")
    try:
        return etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as err:
        first_error = str(err)
    # Repairs are tried only after a strict parse failed, so conformant replies pay nothing.
    repaired = _declare_unbound(_BARE_AMP.sub("&amp;", text)).encode("utf-8")
    if repaired != body:
        try:
            root = etree.fromstring(repaired, _parser())
            log.debug("%s: XML repaired (unbound prefixes, bad root attributes or bare '&'): %s", target, first_error)
            return root
        except etree.XMLSyntaxError:
            pass
    raise MalformedError(target, f"not well-formed XML: {first_error}")


def localname(el: etree._Element) -> str:
    """Return the element's local name, also for ``prefix:name`` tags."""
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag[max(tag.rfind("}"), tag.rfind(":")) + 1 :]


def _children(el: etree._Element, name: str) -> list[etree._Element]:
    lname = name.lower()
    return [c for c in el if isinstance(c.tag, str) and localname(c).lower() == lname]


def find_local(el: etree._Element | None, *names: str) -> etree._Element | None:
    """Follow a path of child local names (case-insensitive); return the first match or None."""
    cur = el
    for name in names:
        if cur is None:
            return None
        found = _children(cur, name)
        cur = found[0] if found else None
    return cur


def findall_local(el: etree._Element | None, *names: str) -> list[etree._Element]:
    """Return every element reached by the path of local names (all branches)."""
    if el is None:
        return []
    level = [el]
    for name in names:
        level = [c for parent in level for c in _children(parent, name)]
    return level


def iter_local(el: etree._Element | None, name: str) -> list[etree._Element]:
    """Return every descendant with this local name, in document order."""
    if el is None:
        return []
    lname = name.lower()
    return [d for d in el.iterdescendants() if isinstance(d.tag, str) and localname(d).lower() == lname]


def text_local(el: etree._Element | None, *names: str) -> str:
    """Return the stripped text of the element at the path, or '' when missing."""
    found = find_local(el, *names) if names else el
    if found is None:
        return ""
    return "".join(found.itertext()).strip()


def soap_fault(root: etree._Element | None) -> SoapFault | None:
    """Return the SOAP Fault carried by an Envelope (1.1 or 1.2), or None."""
    if root is None:
        return None
    fault = find_local(root, "Body", "Fault") if localname(root) == "Envelope" else None
    if fault is None and localname(root) == "Fault":
        fault = root
    if fault is None:
        return None
    code_el = find_local(fault, "Code")
    if code_el is not None:  # SOAP 1.2
        code = text_local(code_el, "Value")
        subcodes: list[str] = []
        sub = find_local(code_el, "Subcode")
        while sub is not None and len(subcodes) < 16:
            value = text_local(sub, "Value")
            if value:
                subcodes.append(value)
            sub = find_local(sub, "Subcode")
        reason_el = find_local(fault, "Reason")
        texts = [text_local(t) for t in findall_local(reason_el, "Text")] if reason_el is not None else []
        reason = next((t for t in texts if t), text_local(reason_el))
        return SoapFault(
            code=code, subcodes=subcodes, reason=reason, detail=text_local(fault, "Detail"), soap_version="1.2"
        )
    # SOAP 1.1: faultcode/faultstring/detail (unqualified); some stacks put ONVIF subcodes in detail.
    return SoapFault(
        code=text_local(fault, "faultcode"),
        subcodes=[],
        reason=text_local(fault, "faultstring"),
        detail=text_local(fault, "detail"),
        soap_version="1.1",
    )
