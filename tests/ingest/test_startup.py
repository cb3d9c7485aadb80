"""``ingest.startup``: the lock beside the embedded files, the roles that have work, the
channels the ready line lists (no service needed: settings and files only)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from ingest.mailboxes import MailboxConfig
from ingest.pullers import pullers_ctx
from ingest.settings import ALL_ROLES, Settings
from ingest.startup import (
    StartupRefused,
    embedded_files,
    inbound_channels,
    listen,
    running_roles,
    single_instance,
)
from ingest.web.app import create_app


def embedded(tmp_path: Path, **values: Any) -> Settings:
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'cskh.db'}", bus="sqlite",
                    **values)


def test_the_lock_refuses_a_second_holder_and_is_free_again_after(tmp_path: Path) -> None:
    settings = embedded(tmp_path)
    assert embedded_files(settings) == [tmp_path / "cskh.db", tmp_path / "cskh.bus.db"]
    with single_instance(settings) as locks:
        assert locks == [tmp_path / "cskh.db.lock", tmp_path / "cskh.bus.db.lock"]
        refused = pytest.raises(StartupRefused, match=r"another `cskh serve` \(pid \d+\) already")
        with refused, single_instance(settings):
            pass
        assert not (tmp_path / "cskh.db").exists()  # refusing touched no database
    with single_instance(settings):  # released on exit
        pass


def test_postgresql_and_kafka_need_no_lock() -> None:
    settings = Settings(database_url="postgresql+asyncpg://u@h/db", bus="kafka://127.0.0.1:9092")
    assert embedded_files(settings) == []


def test_a_taken_port_is_refused_with_the_address() -> None:
    with listen("127.0.0.1", 0) as (taken,):
        port = taken.getsockname()[1]
        refused = pytest.raises(StartupRefused, match=f"cannot serve on 127.0.0.1:{port}")
        with refused, listen("127.0.0.1", port):
            pass
    with listen("localhost", 0) as sockets:  # every address of the name, on one port
        assert {s.getsockname()[1] for s in sockets} == {sockets[0].getsockname()[1]}
        assert socket.AF_INET in {s.family for s in sockets}


def test_roles_without_work_are_not_listed_and_toml_mailboxes_start_the_pullers(
        tmp_path: Path) -> None:
    bare = embedded(tmp_path)
    assert running_roles(bare, ALL_ROLES) == ["webhooks", "normalizer", "router"]
    assert inbound_channels(bare) == ["webform"]
    box = MailboxConfig(name="cskh", host="mail.congty.vn", user="cskh",
                        password=SecretStr("bí-mật"))
    with_mail = embedded(tmp_path, mailboxes=[box], smtp_host="smtp.congty.vn",
                         mail_from="cskh@congty.vn")
    assert running_roles(with_mail, ALL_ROLES) == list(ALL_ROLES)
    assert inbound_channels(with_mail) == ["email", "webform"]
    assert pullers_ctx in create_app(with_mail).cleanup_ctx  # TOML only, no CSKH_IMAP_HOST
    assert pullers_ctx not in create_app(bare).cleanup_ctx
