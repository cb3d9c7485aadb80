"""Several mailboxes from the TOML file beside the ``CSKH_IMAP_*`` one: validation, secrets,
one puller (cursor, lease) per (mailbox, folder)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from ingest.cursors import DbCursor, FileCursor
from ingest.lease import FlockLease, PgAdvisoryLease
from ingest.mailboxes import configured, cursor_path
from ingest.pullers import imap_pullers
from ingest.settings import load_settings

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
TOML = '''
[[mailboxes]]
name = "cskh"
host = "imap.example.vn"
port = 993
user = "cskh@example.vn"
password = "mat-khau-1"
tls = true
folders = ["INBOX", "Khach hang"]
queue = "cskh"
move_to = "Processed"
flag = "\\\\Seen"

[[mailboxes]]
name = "ketoan"
host = "imap.example.vn"
user = "ketoan@example.vn"
password = "mat-khau-2"
queue = "accounting"
'''


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cskh.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def no_env_mailbox(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HOST", "USER", "PASSWORD", "FOLDER", "CURSOR_PATH"):
        monkeypatch.delenv(f"CSKH_IMAP_{name}", raising=False)


def test_the_toml_file_lists_several_mailboxes(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, TOML))
    cskh, ketoan = settings.mailboxes
    assert (cskh.name, cskh.port, cskh.folders, cskh.queue, cskh.move_to, cskh.flag) == (
        "cskh", 993, ["INBOX", "Khach hang"], "cskh", "Processed", "\\Seen")
    assert (ketoan.folders, ketoan.queue, ketoan.tls, ketoan.port) == (
        ["INBOX"], "accounting", True, None)
    assert "mat-khau" not in repr(settings) and "mat-khau" not in str(cskh)
    assert cskh.password.get_secret_value() == "mat-khau-1"


def test_env_mailbox_still_works_beside_the_file(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSKH_IMAP_HOST", "mail.congty.vn")
    monkeypatch.setenv("CSKH_IMAP_USER", "hotro")
    monkeypatch.setenv("CSKH_IMAP_PASSWORD", "bi-mat")
    monkeypatch.setenv("CSKH_IMAP_QUEUE", "technical")
    settings = load_settings(write(tmp_path, TOML))
    boxes = configured(settings)
    assert [(b.name, legacy) for b, legacy in boxes] == [
        ("hotro@mail.congty.vn", True), ("cskh", False), ("ketoan", False)]
    env = boxes[0][0]
    assert (env.folders, env.queue, env.tls, env.port) == (["INBOX"], "technical", True, 993)
    assert "bi-mat" not in repr(env)


def test_a_bad_env_mailbox_stops_start_up(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSKH_IMAP_HOST", "mail.congty.vn")
    monkeypatch.setenv("CSKH_IMAP_USER", "hotro")
    monkeypatch.setenv("CSKH_IMAP_MOVE_TO", "INBOX")
    with pytest.raises(ValidationError, match="also one of its folders"):
        load_settings(write(tmp_path, TOML))


@pytest.mark.parametrize(("toml", "message"), [
    (TOML.replace('name = "ketoan"', 'name = "cskh"'), "two mailboxes are named 'cskh'"),
    (TOML.replace('folders = ["INBOX", "Khach hang"]', 'folders = []'), "at least 1 item"),
    (TOML.replace('folders = ["INBOX", "Khach hang"]', 'folders = ["INBOX", "INBOX"]'),
     "a folder is listed twice"),
    (TOML.replace('move_to = "Processed"', 'move_to = "INBOX"'), "also one of its folders"),
    (TOML.replace('queue = "accounting"', 'queue = "Kế toán"'), "queue"),
    (TOML.replace('flag = "\\\\Seen"', 'flag = "\\\\Bogus"'), "flag"),
    (TOML.replace('port = 993', 'port = 99999'), "port"),
    (TOML.replace('tls = true', 'tls = true\nca_file = "/nonexistent/ca.pem"'),
     "is not a file"),
    (TOML.replace('password = "mat-khau-2"', 'pasword = "mat-khau-2"'), "password"),
])
def test_a_bad_mailbox_is_a_clear_error_without_the_password(
        tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        load_settings(write(tmp_path, toml))
    assert message in str(caught.value)
    assert "mat-khau-1" not in str(caught.value)


def test_each_folder_gets_its_puller_cursor_and_lease(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSKH_IMAP_HOST", "mail.congty.vn")
    monkeypatch.setenv("CSKH_IMAP_USER", "hotro")
    base = tmp_path / "state" / "cskh.imap-cursor.json"
    settings = load_settings(write(tmp_path, TOML), imap_cursor_path=base,
                             attachment_dir=tmp_path / "files")
    pullers = imap_pullers(settings, bus=None, clock=lambda: NOW)  # type: ignore[arg-type]
    assert [(p.mailbox.name, p.mailbox.folder, p.mailbox.queue) for p in pullers] == [
        ("hotro@mail.congty.vn", "INBOX", None), ("cskh", "INBOX", "cskh"),
        ("cskh", "Khach hang", "cskh"), ("ketoan", "INBOX", "accounting")]
    paths = [p.cursor.path for p in pullers if isinstance(p.cursor, FileCursor)]
    assert paths[0] == base  # the single-mailbox cursor of earlier releases stays put
    assert len(set(paths)) == 4 and all(p.parent == base.parent for p in paths)
    assert all(isinstance(p.lease, FlockLease) for p in pullers)
    assert pullers[1].mailbox.settles and not pullers[3].mailbox.settles

    pg = load_settings(write(tmp_path, TOML),
                       database_url="postgresql+asyncpg://u:p@db/cskh")
    on_pg = imap_pullers(pg, bus=None, clock=lambda: NOW,  # type: ignore[arg-type]
                         sessions=lambda: None)  # type: ignore[arg-type]
    leases = [p.lease for p in on_pg]
    assert all(isinstance(lease, PgAdvisoryLease) for lease in leases)
    # …and their cursors in the database, one row per folder, for whoever holds the lease
    assert [p.cursor.source for p in on_pg if isinstance(p.cursor, DbCursor)] == [
        "imap:hotro@mail.congty.vn/INBOX", "imap:cskh/INBOX", "imap:cskh/Khach hang",
        "imap:ketoan/INBOX"]
    assert len({lease.key for lease in leases if isinstance(lease, PgAdvisoryLease)}) == 4


def test_cursor_paths_are_safe_file_names(tmp_path: Path) -> None:
    base = tmp_path / "cursor.json"
    odd = cursor_path(base, "cskh", "../Khách hàng/2026")
    assert odd.parent == tmp_path and "/" not in odd.name and odd.suffix == ".json"
    assert cursor_path(base, "cskh", "a b") != cursor_path(base, "cskh", "a_b")
    assert cursor_path(tmp_path, "cskh", "INBOX").parent == tmp_path  # a directory
