"""``cskh staff set-password NAME`` and the password of ``cskh staff add --password-stdin``.

A password comes from a prompt (typed twice, not echoed) or, with ``--password-stdin``, from
the first line of standard input; it is hashed with argon2 and never printed or logged.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from desk.passwords import PasswordError, hash_password, set_password

STDIN_HELP = "read the password from the first line of standard input (for scripts)"


def read_password(from_stdin: bool) -> str:
    """The new password: stdin's first line, or typed twice at a prompt."""
    from ingest.cli import CliError

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CliError("--password-stdin: standard input held no password")
        return password
    if not sys.stdin.isatty():
        raise CliError("no terminal to ask for the password: use --password-stdin")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Same password again: ") != first:
        raise CliError("the two passwords differ")
    return first


def password_hash(from_stdin: bool) -> str:
    """``read_password`` hashed (a password too short or too long is a ``CliError``)."""
    from ingest.cli import CliError

    try:
        return hash_password(read_password(from_stdin))
    except PasswordError as exc:
        raise CliError(str(exc)) from exc


def cmd_staff_set_password(args: argparse.Namespace) -> int:
    from ingest.cli import CliError, _print, _settings, _with_session

    password = read_password(args.password_stdin)

    async def work(session: AsyncSession) -> dict[str, Any]:
        try:
            staff = await set_password(session, args.name, password)
        except PasswordError as exc:
            raise CliError(str(exc)) from exc
        return {"id": staff.id, "name": staff.name}

    row = asyncio.run(_with_session(_settings(args), work))
    _print(args, row, [f"{row['name']}: password set (their open page sessions have ended)"])
    return 0


def add_password_parser(staff: Any, common: argparse.ArgumentParser,
                        out: argparse.ArgumentParser) -> None:
    """``staff set-password`` on the ``staff`` sub-commands."""
    cmd = staff.add_parser(
        "set-password", parents=[common, out], help="set an officer's password for the pages",
        description="Set the password an officer signs in to the pages with (name or e-mail "
                    "and password at http://HOST:PORT/login). Prompts twice unless "
                    "--password-stdin. At least 8 characters; stored only as an argon2 hash.")
    cmd.add_argument("name")
    cmd.add_argument("--password-stdin", action="store_true", help=STDIN_HELP)
    cmd.set_defaults(func=cmd_staff_set_password)
