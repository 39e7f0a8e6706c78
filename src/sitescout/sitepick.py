"""`survey --site`: an id or a unique diacritic-insensitive match, checked before the survey starts.

"dong bua", "Đồng Bùa" and "12" all name Thôn Đồng Bùa (id 12).  The sites come from the
inventory (``--db``) or from the server (``--push``: ``GET /api/v1/sites?q=``).  No match is a
usage error listing the closest names; several matches list them, so the technician types
a longer name or the id.  Nobody surveys for ten minutes to learn the name was wrong.
"""

from __future__ import annotations

import difflib
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

from sitescout.errors import CommandError, UsageError
from sitescout.i18n import _
from sitescout.inventory.search import fold

__all__ = ["SiteChoice", "pick_site", "sites_from_db", "sites_from_api", "ServerUnreachable"]

_SHOWN = 8


@dataclass(frozen=True)
class SiteChoice:
    """A site a --site value may name."""

    id: int
    name: str
    commune: str

    def __str__(self) -> str:
        if self.commune:
            return _("{name} ({commune}, id {id})").format(name=self.name, commune=self.commune, id=self.id)
        return _("{name} (id {id})").format(name=self.name, id=self.id)


class ServerUnreachable(Exception):
    """The server could not be asked (offline in the field): the survey goes on, the push is spooled."""


def pick_site(text: str, sites: Sequence[SiteChoice]) -> SiteChoice:
    """Return the one site `text` names: its id, its folded name, or a unique folded part of name or commune."""
    wanted = fold(text)
    if text.strip().isascii() and text.strip().isdigit():
        for site in sites:
            if site.id == int(text.strip()):
                return site
    exact = [s for s in sites if fold(s.name) == wanted]
    if len(exact) == 1:
        return exact[0]
    if len(exact) > 1:
        raise UsageError(_ambiguous(text, exact))
    partial = [s for s in sites if wanted and (wanted in fold(s.name) or wanted in fold(s.commune))]
    if len(partial) == 1:
        return partial[0]
    if partial:
        raise UsageError(_ambiguous(text, partial))
    raise UsageError(_no_match(text, sites))


def _ambiguous(text: str, sites: Sequence[SiteChoice]) -> str:
    shown = "; ".join(map(str, sites[:_SHOWN])) + ("; …" if len(sites) > _SHOWN else "")
    return _("--site {text!r} matches {count} sites: {sites}; give more of the name or the id").format(
        text=text, count=len(sites), sites=shown)


def _no_match(text: str, sites: Sequence[SiteChoice]) -> str:
    by_folded: dict[str, SiteChoice] = {}
    for site in sites:
        by_folded.setdefault(fold(site.name), site)
    close = difflib.get_close_matches(fold(text), list(by_folded), n=5, cutoff=0.4)
    if not close:
        return _("--site {text!r} matches no site in the inventory; create the site first or check the name").format(
            text=text)
    return _("--site {text!r} matches no site; closest: {sites}").format(
        text=text, sites="; ".join(str(by_folded[c]) for c in close))


def sites_from_db(url: str) -> list[SiteChoice]:
    """Return every site of the inventory at `url`."""
    from sitescout.cmdutil import open_inventory
    from sitescout.inventory import store

    database = open_inventory(url)
    try:
        with database.session() as session:
            return [SiteChoice(s.id, s.name, s.commune) for s in store.list_sites(session)]
    finally:
        database.close()


def _get_json(url: str, token: str) -> object:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return json.loads(response.read(64 << 20))
    except urllib.error.HTTPError as err:
        if err.code in (401, 403):
            raise CommandError(_("--push: {url} refused the token ({status}); check --token-file (an editor "
                                 "token)").format(url=url.split("?")[0], status=err.code)) from err
        raise ServerUnreachable(f"{err.code} {err.reason}") from err
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise ServerUnreachable(str(getattr(err, "reason", err))) from err


def _choices(collection: object) -> list[SiteChoice]:
    features = collection.get("features", []) if isinstance(collection, dict) else []
    return [SiteChoice(int(p["id"]), str(p["name"]), str(p.get("commune") or ""))
            for f in features if isinstance(f, dict) and isinstance(p := f.get("properties"), dict)]


def sites_from_api(base: str, token: str, text: str) -> list[SiteChoice]:
    """Return the sites the server finds for `text` (every site when it finds none, for the closest names)."""
    api = base.rstrip("/") + "/api/v1/sites"
    if text.strip().isascii() and text.strip().isdigit():
        try:
            feature = _get_json(f"{api}/{int(text.strip())}", token)
            return _choices({"features": [feature]})
        except ServerUnreachable:
            pass  # no site with that id: it may be a name made of digits
    found = _choices(_get_json(f"{api}?{urllib.parse.urlencode({'q': text})}", token))
    return found or _choices(_get_json(api, token))
