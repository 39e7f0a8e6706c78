"""Language of the UI: the `lang` cookie if set (by the switch links), else the browser's Accept-Language.

The same choice speaks the REST API's error answers (web/errors.py): the user's choice, then
``Accept-Language``, then the deployment's default (``BABEL_DEFAULT_LOCALE``, Vietnamese).

The survey report and the findings are shared with the command (inventory/survey_report.py,
inventory/findings.py): their words live in the command's ``cli`` catalogue, which
``report_reader()`` loads beside the web's own for the request's language.  Times are shown in
the deployment's zone (``SITE_TIMEZONE``, ``sitescout serve --timezone``; default Asia/Ho_Chi_Minh).
"""

from __future__ import annotations

import gettext as _gettext
from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from flask import Flask, current_app, request
from flask_babel import Babel, get_locale

from sitescout.i18n import DOMAIN as CLI_DOMAIN, TRANSLATIONS_DIR as CLI_TRANSLATIONS
from sitescout.inventory.survey_report import DEFAULT_TIMEZONE, Reader

__all__ = ["init_app", "select_locale", "LANG_COOKIE", "report_reader", "site_timezone", "format_when"]

LANG_COOKIE = "sitescout_lang"


def select_locale() -> str:
    """Return the language of this request: cookie, then Accept-Language, then Vietnamese."""
    languages = list(current_app.config["LANGUAGES"])
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen is not None and chosen in languages:
        return chosen
    return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]


@lru_cache(maxsize=8)
def _cli_catalogue(lang: str) -> _gettext.NullTranslations:
    return _gettext.translation(CLI_DOMAIN, CLI_TRANSLATIONS, languages=[lang], fallback=True)


def site_timezone() -> str:
    """Return the name of the zone this deployment shows its sites' times in."""
    return str(current_app.config.get("SITE_TIMEZONE") or DEFAULT_TIMEZONE)


def report_reader() -> Reader:
    """Return the reader of this request for the shared report: language, catalogue, time zone."""
    lang = str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])
    return Reader(gettext=_cli_catalogue(lang).gettext, locale=lang, timezone=site_timezone())


def format_when(value: object, form: str = "medium", zone: str | None = None) -> str:
    """Jinja filter ``when``: a stored time (datetime or ISO 8601) in the site's zone, per the reader's locale.

    `form` is Babel's ("short", "medium", …); `zone` another zone name than the deployment's.
    """
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return text
    if not isinstance(value, datetime):
        return "" if value is None else str(value)
    moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    lang = str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])
    return format_datetime(moment.astimezone(ZoneInfo(zone or site_timezone())), form, locale=lang)


def init_app(app: Flask) -> None:
    """Attach Flask-Babel with our catalogues (web/translations) and locale selector."""
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals["LANGUAGES"] = app.config["LANGUAGES"]
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.filters["when"] = format_when
