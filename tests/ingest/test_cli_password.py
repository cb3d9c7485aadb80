"""``cskh staff add --password-stdin`` and ``cskh staff set-password`` on both backend pairs."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest
from sqlalchemy import select

from desk.passwords import verify
from ingest.cli import main
from storage.db import SessionFactory
from storage.models import Staff


async def _stored(sessions: SessionFactory, name: str) -> Staff:
    async with sessions() as session:
        staff = await session.scalar(select(Staff).where(Staff.name == name))
    assert staff is not None
    return staff


async def _run(monkeypatch: pytest.MonkeyPatch, stdin: str, *argv: str) -> int:
    """``cskh ARGV`` with ``stdin``, in a thread of its own (it runs its own event loop)."""
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return await asyncio.to_thread(main, list(argv))


async def test_add_and_set_password_from_stdin_never_print_it(
        backend: Any, sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for key, value in backend.env().items():
        monkeypatch.setenv(key, value)
    assert await _run(monkeypatch, "mật-khẩu-một\n", "staff", "add", "--name", "Hà", "--queue",
                "cskh", "--email", "Ha.Le@CongTy.vn", "--password-stdin", "--json") == 0
    out = capsys.readouterr()
    assert "mật-khẩu-một" not in out.out + out.err
    assert json.loads(out.out)["name"] == "Hà"
    staff = await _stored(sessions, "Hà")
    assert staff.email == "ha.le@congty.vn" and verify(staff.password_hash, "mật-khẩu-một")

    assert await _run(monkeypatch, "mật-khẩu-hai\r\n", "staff", "set-password", "Hà",
                "--password-stdin") == 0
    out = capsys.readouterr()
    assert "password set" in out.out and "mật-khẩu-hai" not in out.out + out.err
    staff = await _stored(sessions, "Hà")
    assert verify(staff.password_hash, "mật-khẩu-hai")
    assert not verify(staff.password_hash, "mật-khẩu-một")


async def test_bad_passwords_and_names_are_refused_clearly(
        backend: Any, sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for key, value in backend.env().items():
        monkeypatch.setenv(key, value)
    assert await _run(monkeypatch, "ngan\n", "staff", "add", "--name", "Hà", "--queue", "cskh",
                "--password-stdin") == 2
    assert "at least 8 characters" in capsys.readouterr().err
    assert await _run(monkeypatch, "", "staff", "set-password", "Không-có", "--password-stdin") == 2
    assert "no password" in capsys.readouterr().err
    assert await _run(monkeypatch, "đủ-dài-rồi-nhé\n", "staff", "set-password", "Không-có",
                "--password-stdin") == 2
    assert "no staff member called" in capsys.readouterr().err
    # not a terminal and no --password-stdin: no prompt that would hang a script
    assert await _run(monkeypatch, "x\n", "staff", "set-password", "Hà") == 2
    assert "--password-stdin" in capsys.readouterr().err
    assert await _run(monkeypatch, "", "staff", "add", "--name", "Lan", "--queue", "cskh") == 0
    capsys.readouterr()
    assert await _run(monkeypatch, "", "staff", "add", "--name", "LAN", "--queue", "cskh") == 2
    assert "exists already" in capsys.readouterr().err
