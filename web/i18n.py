"""Language of the UI: the `lang` cookie if set (by the switch links), else the browser's Accept-Language."""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_babel import Babel, get_locale

__all__ = ["init_app", "select_locale", "LANG_COOKIE"]

LANG_COOKIE = "sitescout_lang"


def select_locale() -> str:
    """Return the language of this request: cookie, then Accept-Language, then Vietnamese."""
    languages = list(current_app.config["LANGUAGES"])
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in languages:
        return chosen
    return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]


def init_app(app: Flask) -> None:
    """Attach Flask-Babel with our catalogues (web/translations) and locale selector."""
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals["LANGUAGES"] = app.config["LANGUAGES"]
    app.jinja_env.globals["get_locale"] = get_locale
