"""Text search over tickets that matches with and without Vietnamese diacritics.

Stored text stays exactly as the customer wrote it, so the folding happens in the query:
``folded(column)`` is the column lowercased with Vietnamese tone and vowel marks removed and
``đ`` made ``d`` (composed or decomposed input alike), the same form
``normalizer.text.strip_diacritics`` gives a search term (``storage.search_fold`` is the
mapping). PostgreSQL folds with ``translate()``; SQLite with the ``cskh_fold()`` function
every SQLite connection of ``storage.db`` registers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, func, literal, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import String

from normalizer.text import strip_diacritics
from storage.models import Message, Ticket
from storage.search_fold import LETTERS, MARKS


class folded(FunctionElement[str]):
    """``folded(expr)``: the diacritics-free lowercase form of a text expression."""

    type = String()
    inherit_cache = True
    name = "folded"


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@compiles(folded, "postgresql")
def _folded_pg(element: folded, compiler: SQLCompiler, **kw: Any) -> str:
    source = "".join(LETTERS) + MARKS
    target = "".join(LETTERS.values())  # the marks, beyond the target's end, are deleted
    inner = compiler.process(element.clauses, **kw)
    return f"lower(translate({inner}, {_sql_string(source)}, {_sql_string(target)}))"


@compiles(folded)
def _folded_default(element: folded, compiler: SQLCompiler, **kw: Any) -> str:
    return f"cskh_fold({compiler.process(element.clauses, **kw)})"  # see storage.db


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def terms(query: str) -> list[str]:
    """The folded words of a search query (empty for a blank one)."""
    return strip_diacritics(query).split()


def matches(query: str) -> ColumnElement[bool]:
    """A WHERE clause: every word of ``query`` is in the ticket's subject or one of its
    messages, compared without case or diacritics ("giao hang" finds "Giao hàng" and the
    other way round). A blank query matches every ticket."""
    clauses: list[ColumnElement[bool]] = []
    for term in terms(query):
        pattern = literal(_like_pattern(term), String())
        in_subject = folded(func.coalesce(Ticket.subject, "")).like(pattern, escape="\\")
        in_message = exists(select(Message.id).where(
            Message.ticket_id == Ticket.id, folded(Message.text).like(pattern, escape="\\")))
        clauses.append(or_(in_subject, in_message))
    return and_(True, *clauses)


class bytewise(FunctionElement[str]):
    """``bytewise(expr)``: ``expr`` compared character by character (code point order), as
    Python sorts strings, whatever the database's collation: ``ORDER BY`` the same on both."""

    type = String()
    inherit_cache = True
    name = "bytewise"


@compiles(bytewise, "postgresql")
def _bytewise_pg(element: bytewise, compiler: SQLCompiler, **kw: Any) -> str:
    return f'({compiler.process(element.clauses, **kw)}) COLLATE "C"'


@compiles(bytewise)
def _bytewise_default(element: bytewise, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)  # SQLite's BINARY: code point order
