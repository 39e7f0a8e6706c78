"""`sitescout users` and `sitescout tokens`: who may use the inventory, for an admin at the server's console.

Both work on the inventory database directly (``--db``, default the user's data dir), so
they also serve when nobody can log in any more.  A token's secret is printed once, alone
on stdout (``sitescout tokens add --role worker > worker.token``); listings never show it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sitescout.i18n import _

__all__ = ["register", "parse_expires", "parse_sites"]

_PEOPLE = ("admin", "editor", "viewer")
_ROLES = ("viewer", "editor", "admin", "worker", "alertmanager")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the users and tokens subcommands."""
    _register_users(sub)
    _register_tokens(sub)


def _db_option(p: argparse.ArgumentParser, *, top: bool = False) -> None:
    # Given before or after the action: the action's copy must not reset the command's (SUPPRESS).
    p.add_argument("--db", metavar="URL", default=None if top else argparse.SUPPRESS,
                   help=_("inventory database URL (default: a SQLite file in the user's data dir)"))


def _password_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--password-file", metavar=_("FILE"), type=Path,
                   help=_("read the password from this file (default: asked on the terminal, or one line of stdin)"))


def _register_users(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("users", help=_("add, list, remove UI users, set their password or role"),
                       description=_("Manage the people who log into the web UI (admin, editor, viewer)."))
    _db_option(p, top=True)
    actions = p.add_subparsers(dest="action", metavar=_("ACTION"))
    actions.required = True
    a = actions.add_parser("list", help=_("list users and their roles"))
    _db_option(a)
    a = actions.add_parser("add", help=_("add a user"))
    a.add_argument("username", metavar=_("USERNAME"), help=_("the user's login name"))
    a.add_argument("--role", choices=_PEOPLE, required=True, help=_("what the user may do"))
    _password_options(a)
    _db_option(a)
    a = actions.add_parser("remove", help=_("remove a user (not the last admin)"))
    a.add_argument("username", metavar=_("USERNAME"), help=_("the user's login name"))
    _db_option(a)
    a = actions.add_parser("set-password", help=_("set a user's password (their open sessions end)"))
    a.add_argument("username", metavar=_("USERNAME"), help=_("the user's login name"))
    _password_options(a)
    _db_option(a)
    a = actions.add_parser("set-role", help=_("change a user's role (not the last admin's)"))
    a.add_argument("username", metavar=_("USERNAME"), help=_("the user's login name"))
    a.add_argument("role", choices=_PEOPLE, help=_("the new role"))
    _db_option(a)
    p.set_defaults(func=_cmd_users)


def _register_tokens(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tokens", help=_("create, list and revoke API tokens"),
                       description=_("Manage API tokens: workers read targets and post observations, field "
                       "laptops push surveys (editor), scripts read (viewer).  A new token is printed once."))
    _db_option(p, top=True)
    actions = p.add_subparsers(dest="action", metavar=_("ACTION"))
    actions.required = True
    a = actions.add_parser("add", help=_("create a token and print it (only the token on stdout)"))
    a.add_argument("--role", choices=_ROLES, required=True, help=_("what the token may do"))
    a.add_argument("--label", default="", metavar=_("TEXT"),
                   help=_("what the token is for, e.g. 'worker at the district NOC'"))
    a.add_argument("--expires", metavar=_("WHEN"), type=parse_expires,
                   help=_("ISO 8601 time (2027-01-31, 2027-01-31T08:00+07:00) or a duration such as 90d or 12h"))
    a.add_argument("--sites", metavar="ID,ID", type=parse_sites,
                   help=_("serve only these sites (a worker then sees and reports only their devices)"))
    _db_option(a)
    a = actions.add_parser("list", help=_("list tokens (never their secrets)"))
    _db_option(a)
    a = actions.add_parser("revoke", help=_("revoke a token at once"))
    a.add_argument("token_id", type=int, metavar="ID", help=_("the token's id (see `tokens list`)"))
    _db_option(a)
    p.set_defaults(func=_cmd_tokens)


def parse_expires(text: str) -> Any:
    """Return an aware UTC datetime from an ISO 8601 time or a duration (90d, 12h, 30m) from now."""
    from datetime import UTC, datetime, timedelta

    units = {"d": "days", "h": "hours", "m": "minutes"}
    if text[-1:] in units and text[:-1].isdigit():
        return datetime.now(UTC) + timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            _("{text!r} is not a time; give 2027-01-31, 2027-01-31T08:00+07:00 or 90d").format(text=text)) from None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if when <= datetime.now(UTC):
        raise argparse.ArgumentTypeError(_("{text!r} has passed; give a time in the future").format(text=text))
    return when


def parse_sites(text: str) -> list[int]:
    """Return site ids from '3,7' (argparse type)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isascii() and p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError(_("{text!r}: give site ids separated by commas, e.g. 3,7").format(text=text))
    return [int(p) for p in parts]


def _open(url: str | None) -> Any:
    from sitescout.cmdutil import open_inventory

    return open_inventory(url)


def _read_password(path: Path | None) -> str:
    from sitescout.errors import UsageError

    if path is not None:
        try:
            text = path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as err:
            raise UsageError(_("--password-file: cannot read {path}: {reason}").format(
                path=path, reason=err.strerror)) from err
    elif sys.stdin.isatty():
        import getpass

        text = getpass.getpass(_("Password: "))
        if getpass.getpass(_("Again: ")) != text:
            raise UsageError(_("the two passwords differ; run the command again"))
    else:
        text = sys.stdin.readline().rstrip("\r\n")
    if len(text) < 8:
        raise UsageError(_("the password needs at least 8 characters"))
    return text


def _cmd_users(args: argparse.Namespace) -> int:
    from sitescout.errors import CommandError
    from sitescout.inventory import accounts
    from sitescout.inventory.auth import create_user
    from sitescout.inventory.db import ConflictError
    from sitescout.inventory.models import ValidationError

    password = _read_password(args.password_file) if args.action in ("add", "set-password") else None
    database = _open(args.db)
    try:
        with database.session() as session:
            if args.action == "list":
                for listed in accounts.list_users(session, limit=10**9):
                    print(f"{listed.username}\t{listed.role}")
                return 0
            if args.action == "add":
                if accounts.find_user(session, args.username) is not None:
                    raise CommandError(_("a user named {user!r} exists; use set-password or set-role").format(
                        user=args.username))
                create_user(session, args.username, password or "", args.role)
                print("sitescout users: " + _("added {user!r} ({role})").format(user=args.username, role=args.role),
                      file=sys.stderr)
                return 0
            user = accounts.find_user(session, args.username)
            if user is None:
                raise CommandError(_("no user named {user!r}; see `sitescout users list`").format(user=args.username))
            if args.action == "remove":
                accounts.delete_user(session, user.id)
                done = _("removed {user!r}").format(user=args.username)
            elif args.action == "set-password":
                accounts.update_user(session, user.id, password=password)
                done = _("set the password of {user!r} (their sessions end)").format(user=args.username)
            else:
                accounts.update_user(session, user.id, role=args.role)
                done = _("made {role}: {user!r}").format(role=args.role, user=args.username)
            print("sitescout users: " + done, file=sys.stderr)
            return 0
    except (ConflictError, ValidationError) as err:
        raise CommandError(str(err)) from err
    finally:
        database.close()


def _cmd_tokens(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from sitescout.cmdutil import local_time
    from sitescout.errors import CommandError
    from sitescout.inventory import accounts
    from sitescout.inventory.auth import issue_token
    from sitescout.inventory.models import Site, ValidationError

    database = _open(args.db)
    try:
        with database.session() as session:
            if args.action == "add":
                if args.sites:
                    missing = sorted(set(args.sites) - set(session.scalars(select(Site.id).where(
                        Site.id.in_(args.sites)))))
                    if missing:
                        raise CommandError(_("--sites: no site with id {ids}; see `sitescout export sites`").format(
                            ids=", ".join(map(str, missing))))
                token_id, secret = issue_token(session, args.role, label=args.label, sites=args.sites,
                                               expires_at=args.expires)
                print(secret)
                print("sitescout tokens: " + _("token {id} ({role}) created; it is shown only this once").format(
                    id=token_id, role=args.role), file=sys.stderr)
            elif args.action == "list":
                print("\t".join((_("id"), _("role"), _("label"), _("sites"), _("created"), _("expires"))))
                for t in accounts.list_tokens(session, limit=10**9):
                    sites = ",".join(map(str, t.sites)) if t.sites is not None else _("all")
                    created = local_time(t.created_at) if t.created_at else ""  # stored in UTC, said in the sites' zone
                    expires = local_time(t.expires_at) if t.expires_at else _("never")
                    print(f"{t.id}\t{t.role}\t{t.label}\t{sites}\t{created}\t{expires}")
            elif not accounts.revoke_token(session, args.token_id):
                raise CommandError(_("no token {id}; see `sitescout tokens list`").format(id=args.token_id))
            else:
                print("sitescout tokens: " + _("token {id} revoked").format(id=args.token_id), file=sys.stderr)
        return 0
    except ValidationError as err:  # --sites for a role that takes no scope
        raise CommandError(str(err)) from err
    finally:
        database.close()
