"""Language of the command's human output: `--lang`, else LC_ALL / LC_MESSAGES / LANG; Vietnamese or English.

The CLI has its own gettext domain, ``cli``, in ``src/sitescout/translations`` (installed as
``sitescout/translations``), apart from the web's ``messages`` domain in ``web/translations``:
the command must not need Flask-Babel to print a table, and the two catalogues are extracted
from different trees.  The finding texts of ``inventory/findings.py`` (pure, shared with the
web later) are extracted into this domain too; the web can load it beside its own.

Refresh the catalogues after changing a message (from the repository root)::

    pybabel extract -F src/sitescout/babel.cfg -k N_ -k ngettext:1,2 --no-location --project sitescout \\
        --version 0.1.0 -o src/sitescout/translations/cli.pot \\
        src/sitescout inventory/findings.py inventory/survey_report.py
    pybabel update -D cli -i src/sitescout/translations/cli.pot -d src/sitescout/translations \\
        --no-fuzzy-matching --ignore-obsolete
    # translate the new entries of vi/LC_MESSAGES/cli.po (en stays empty: the msgid is the English)
    pybabel compile -D cli -d src/sitescout/translations

``tests/test_cli_i18n.py`` fails when a message lacks its Vietnamese translation, is fuzzy, or
when the catalogue no longer matches the source.

argparse's own words ("usage:", "options", "show this help message and exit", "the following
arguments are required") come from the standard library through gettext; their Vietnamese is
in a small catalogue of their own, domain ``argparse`` (``vi/LC_MESSAGES/argparse.po``, its
msgids as this Python's ``argparse.py`` has them), installed into argparse by `set_language`.
``tests/test_cli_help.py`` fails when this Python's argparse has a msgid the catalogue lacks::

    pybabel compile -D argparse -d src/sitescout/translations
"""

from __future__ import annotations

import gettext as _gettext
import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["LANGUAGES", "DOMAIN", "detect_language", "set_language", "language", "_", "ngettext", "N_"]

#: Languages the command speaks; the first one that matches the environment wins, else English.
LANGUAGES = ("vi", "en")
DOMAIN = "cli"
ARGPARSE_DOMAIN = "argparse"
TRANSLATIONS_DIR = Path(__file__).with_name("translations")

_current: dict[str, object] = {"lang": "en", "catalogue": _gettext.NullTranslations()}


def detect_language(environ: Mapping[str, str] | None = None) -> str:
    """Return "vi" when the locale environment asks for Vietnamese, else "en" (POSIX precedence)."""
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:  # the first variable that is set decides, as for setlocale(LC_MESSAGES, "")
            return "vi" if value.lower().startswith("vi") else "en"
    return "en"


def set_language(lang: str | None) -> str:
    """Use ``lang`` (or the environment's language when None) for every later message; return it."""
    chosen = lang if lang in LANGUAGES else detect_language()
    _current["lang"] = chosen
    _current["catalogue"] = _gettext.translation(DOMAIN, TRANSLATIONS_DIR, languages=[chosen], fallback=True)
    _install_argparse(_gettext.translation(ARGPARSE_DOMAIN, TRANSLATIONS_DIR, languages=[chosen], fallback=True))
    return chosen


def _install_argparse(catalogue: _gettext.NullTranslations) -> None:
    """Make argparse speak the chosen language.

    argparse looks its words up through the module-level names ``_`` and ``ngettext`` it imported
    from gettext (the process-wide default domain); pointing them at our catalogue translates
    argparse for this command only, without binding a domain for every other library.
    """
    import argparse

    argparse._ = catalogue.gettext  # type: ignore[attr-defined]
    argparse.ngettext = catalogue.ngettext  # type: ignore[attr-defined]


def language() -> str:
    """Return the language in use ("vi" or "en")."""
    return str(_current["lang"])


def _(message: str) -> str:
    """Return ``message`` in the language in use."""
    catalogue = _current["catalogue"]
    assert isinstance(catalogue, _gettext.NullTranslations)
    return catalogue.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Return the singular or plural form of a message for ``n``, in the language in use."""
    catalogue = _current["catalogue"]
    assert isinstance(catalogue, _gettext.NullTranslations)
    return catalogue.ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it yet (tables of messages)."""
    return message
