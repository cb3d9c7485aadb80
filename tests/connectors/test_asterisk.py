"""The Asterisk CDR tailer: a test per ``Master.csv`` fixture, then appends, restarts, rotation."""

from __future__ import annotations

import hashlib
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.asterisk import MASTER, CdrCursor, CdrTailer
from connectors.envelope import InboundEnvelope

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk"
RECEIVED = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)
TUNG = {"name": "Nguyen Van Tung", "company": None, "email": None, "phone": "+84912345678",
        "platform_user_id": None}


def callback(external_id: str, sender: dict[str, Any], sent_at: str, subject: str,
             text: str) -> dict[str, Any]:
    return {"channel": "hotline", "external_id": external_id, "thread_key": sender["phone"],
            "sender": sender, "sent_at": sent_at, "subject": subject, "text": text,
            "attachments": [], "in_reply_to": None}


# fixture → (envelopes expected, lines skipped)
EXPECTED: dict[str, tuple[list[dict[str, Any]], int]] = {
    "missed__no_answer": ([callback(
        "1795745700.298", TUNG, "2026-11-27T09:15:00+07:00",
        "Gọi lại: cuộc gọi nhỡ từ 0912 345 678",
        "Cuộc gọi nhỡ từ 0912 345 678 lúc 09:15 27/11/2026: không ai nghe máy. "
        "Khách đã chờ 30 giây. Cần gọi lại cho khách.")], 0),
    "missed__busy": ([callback(
        "1795746005.304", {**TUNG, "name": "CONG TY PHU CUONG", "phone": "+842838234567"},
        "2026-11-27T09:20:05+07:00", "Gọi lại: cuộc gọi nhỡ từ 028 3823 4567",
        "Cuộc gọi nhỡ từ 028 3823 4567 lúc 09:20 27/11/2026: máy bận. "
        "Khách đã chờ 4 giây. Cần gọi lại cho khách.")], 0),
    "missed__voicemail": ([callback(
        "1795774200.448", TUNG, "2026-11-27T17:10:00+07:00",
        "Gọi lại: cuộc gọi nhỡ từ 0912 345 678",
        "Cuộc gọi nhỡ từ 0912 345 678 lúc 17:10 27/11/2026: khách để lại lời nhắn thoại. "
        "Khách đã chờ 60 giây. Cần gọi lại cho khách.")], 0),
    "abandoned__queue": ([callback(
        "1795746670.320", {**TUNG, "name": None, "phone": "+84987654321"},
        "2026-11-27T09:31:10+07:00", "Gọi lại: cuộc gọi nhỡ từ 0987 654 321",
        "Cuộc gọi nhỡ từ 0987 654 321 lúc 09:31 27/11/2026: khách gác máy khi đang chờ trong "
        "hàng đợi. Hàng đợi: ketoan. Khách đã chờ 95 giây. Cần gọi lại cho khách.")], 0),
    "queue__second_agent_answered": ([], 0),
    "answered__with_note": ([callback(
        "1795750800.352", TUNG, "2026-11-27T10:40:00+07:00",
        "Cuộc gọi đến từ 0912 345 678 lúc 10:40 27/11/2026, tổng đài viên 104",
        "Khách báo máy nén khí Hitachi kêu to, hẹn kỹ thuật qua kiểm tra bảo hành thứ Bảy 🙏")],
        0),
    "answered__no_note": ([], 0),
    "outbound__no_answer": ([], 0),
    "day__repeat_caller_and_bad_lines": ([
        callback("1795762800.400", TUNG, "2026-11-27T14:00:00+07:00",
                 "Gọi lại: cuộc gọi nhỡ từ 0912 345 678",
                 "Cuộc gọi nhỡ từ 0912 345 678 lúc 14:00 27/11/2026: khách gác máy khi đang "
                 "chờ trong hàng đợi. Hàng đợi: cskh. Khách đã chờ 80 giây. "
                 "Cần gọi lại cho khách."),
        callback("1795764000.416", TUNG, "2026-11-27T14:20:00+07:00",
                 "Gọi lại: cuộc gọi nhỡ từ 0912 345 678",
                 "Cuộc gọi nhỡ từ 0912 345 678 lúc 14:20 27/11/2026: không ai nghe máy. "
                 "Khách đã chờ 30 giây. Cần gọi lại cho khách."),
    ], 2),
}


def same(envelope: InboundEnvelope, expected: dict[str, Any]) -> None:
    got = envelope.model_dump(mode="json")
    for key, value in expected.items():
        if key == "sent_at":
            assert envelope.sent_at == datetime.fromisoformat(value)
        else:
            assert got[key] == value, key
    assert envelope.received_at == RECEIVED
    assert envelope.raw["source"] == "asterisk-cdr" and envelope.raw["rows"]


def cdr_dir(tmp_path: Path, *fixtures: str) -> Path:
    """A CDR directory whose ``Master.csv`` holds the lines of ``fixtures``."""
    directory = tmp_path / "cdr-csv"
    directory.mkdir(exist_ok=True)
    with (directory / MASTER).open("ab") as out:
        for name in fixtures:
            out.write((FIXTURES / f"{name}.csv").read_bytes())
    return directory


def append(directory: Path, data: bytes, name: str = MASTER) -> None:
    with (directory / name).open("ab") as out:
        out.write(data)


def line(name: str, index: int = 0) -> bytes:
    return (FIXTURES / f"{name}.csv").read_bytes().splitlines(keepends=True)[index]


# -- fixtures -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [p for p in sorted(FIXTURES.glob("*.csv")) if p.stem in EXPECTED],
                         ids=lambda p: p.stem)
def test_fixture(path: Path, tmp_path: Path) -> None:
    directory = cdr_dir(tmp_path, path.stem)
    batch = CdrTailer(directory).read(None, received_at=RECEIVED)
    envelopes, skipped = EXPECTED[path.stem]
    assert len(batch.envelopes) == len(envelopes)
    for envelope, expected in zip(batch.envelopes, envelopes, strict=True):
        same(envelope, expected)
    assert len(batch.skipped) == skipped
    assert batch.cursor is not None
    assert batch.cursor.offset == (directory / MASTER).stat().st_size


def test_every_fixture_has_an_expectation() -> None:
    names = {p.stem for p in FIXTURES.glob("*.csv")}
    # the one without uniqueid: test_lines_without_uniqueid_are_keyed_by_their_content
    assert names - {"missed__without_uniqueid"} == set(EXPECTED)


def test_lines_without_uniqueid_are_keyed_by_their_content(tmp_path: Path) -> None:
    directory = cdr_dir(tmp_path, "missed__without_uniqueid")
    (first,) = CdrTailer(directory).read(None, received_at=RECEIVED).envelopes
    (again,) = CdrTailer(directory).read(None, received_at=RECEIVED).envelopes
    text = line("missed__without_uniqueid").decode().rstrip("\n")
    assert first.external_id == "cdr:" + hashlib.sha256(text.encode()).hexdigest()[:32]
    assert first.id == again.id and first.thread_key == "+84933444555"


def test_gmt_times(tmp_path: Path) -> None:
    directory = cdr_dir(tmp_path, "missed__no_answer")
    (envelope,) = CdrTailer(directory, gmt=True).read(None, received_at=RECEIVED).envelopes
    assert envelope.sent_at == datetime(2026, 11, 27, 9, 15, tzinfo=UTC)


# -- tailing ------------------------------------------------------------------------------------


def test_appended_lines_are_picked_up_and_nothing_twice(tmp_path: Path) -> None:
    directory = cdr_dir(tmp_path, "missed__no_answer")
    tailer = CdrTailer(directory)
    first = tailer.read(None, received_at=RECEIVED)
    assert [e.external_id for e in first.envelopes] == ["1795745700.298"]
    nothing = tailer.read(first.cursor, received_at=RECEIVED)
    assert nothing.envelopes == () and nothing.cursor == first.cursor
    append(directory, line("missed__busy") + line("answered__no_note"))
    second = tailer.read(first.cursor, received_at=RECEIVED)
    assert [e.external_id for e in second.envelopes] == ["1795746005.304"]
    assert second.calls == 2
    assert second.cursor is not None and first.cursor is not None
    assert second.cursor.offset > first.cursor.offset


def test_a_line_being_written_waits_for_its_end(tmp_path: Path) -> None:
    directory = cdr_dir(tmp_path)
    tailer = CdrTailer(directory)
    whole = line("missed__busy")
    append(directory, whole[:50])
    half = tailer.read(None, received_at=RECEIVED)
    assert half.envelopes == () and half.cursor is not None and half.cursor.offset == 0
    append(directory, whole[50:])
    done = tailer.read(half.cursor, received_at=RECEIVED)
    assert [e.external_id for e in done.envelopes] == ["1795746005.304"]


def test_restart_resumes_at_the_right_byte(tmp_path: Path) -> None:
    directory = cdr_dir(tmp_path, "missed__no_answer", "missed__busy")
    first = CdrTailer(directory).read(None, received_at=RECEIVED)
    assert first.cursor is not None
    saved = CdrCursor.from_json(first.cursor.to_json())  # what the puller persists
    append(directory, line("missed__voicemail"))
    after_restart = CdrTailer(directory).read(saved, received_at=RECEIVED)
    assert [e.external_id for e in after_restart.envelopes] == ["1795774200.448"]
    assert saved.offset == len(line("missed__no_answer") + line("missed__busy"))


def test_a_backlog_comes_in_bounded_reads(tmp_path: Path) -> None:
    directory = cdr_dir(tmp_path, "missed__no_answer", "missed__busy", "abandoned__queue",
                        "missed__voicemail")
    tailer = CdrTailer(directory, max_bytes=300)
    cursor, seen, reads = None, [], 0
    while True:
        batch = tailer.read(cursor, received_at=RECEIVED)
        if batch.cursor == cursor:
            break
        seen += [e.external_id for e in batch.envelopes]
        cursor, reads = batch.cursor, reads + 1
    assert seen == ["1795745700.298", "1795746005.304", "1795746670.320", "1795774200.448"]
    assert reads == 4


def test_a_rotated_file_is_finished_then_never_read_again(tmp_path: Path) -> None:
    directory = cdr_dir(tmp_path, "missed__no_answer")
    tailer = CdrTailer(directory)
    first = tailer.read(None, received_at=RECEIVED)
    # Asterisk wrote one more line, then logrotate renamed the file and a new one began.
    append(directory, line("missed__busy"))
    os.rename(directory / MASTER, directory / f"{MASTER}.1")
    append(directory, line("abandoned__queue"))
    rest_of_old = tailer.read(first.cursor, received_at=RECEIVED)
    assert [e.external_id for e in rest_of_old.envelopes] == ["1795746005.304"]
    new_file = tailer.read(rest_of_old.cursor, received_at=RECEIVED)
    assert new_file.rotated
    assert [e.external_id for e in new_file.envelopes] == ["1795746670.320"]
    again = tailer.read(new_file.cursor, received_at=RECEIVED)
    assert again.envelopes == () and again.cursor == new_file.cursor


def test_rotation_after_the_old_file_is_gone(tmp_path: Path) -> None:
    directory = cdr_dir(tmp_path, "missed__no_answer")
    tailer = CdrTailer(directory)
    first = tailer.read(None, received_at=RECEIVED)
    os.remove(directory / MASTER)
    gone = tailer.read(first.cursor, received_at=RECEIVED)
    assert gone.envelopes == () and gone.cursor is None
    append(directory, line("missed__busy"))
    fresh = tailer.read(first.cursor, received_at=RECEIVED)
    assert [e.external_id for e in fresh.envelopes] == ["1795746005.304"]


def test_a_truncated_file_is_read_from_its_start(tmp_path: Path) -> None:
    directory = cdr_dir(tmp_path, "missed__no_answer", "missed__busy")
    tailer = CdrTailer(directory)
    first = tailer.read(None, received_at=RECEIVED)
    (directory / MASTER).write_bytes(line("abandoned__queue"))  # copytruncate, same inode
    again = tailer.read(first.cursor, received_at=RECEIVED)
    assert [e.external_id for e in again.envelopes] == ["1795746670.320"]


def test_no_file_yet(tmp_path: Path) -> None:
    batch = CdrTailer(tmp_path).read(None, received_at=RECEIVED)
    assert batch.envelopes == () and batch.cursor is None


def test_per_account_files_are_not_read(tmp_path: Path) -> None:
    directory = cdr_dir(tmp_path, "missed__no_answer")
    shutil.copy(directory / MASTER, directory / "DOCUMENTATION.csv")
    batch = CdrTailer(directory).read(None, received_at=RECEIVED)
    assert len(batch.envelopes) == 1


@pytest.mark.parametrize("gmt", [False, True])
def test_lines_out_of_range_are_skipped_and_the_file_read_on(tmp_path: Path, gmt: bool) -> None:
    """A line no ticket could be made of is skipped with its reason, never one that stops the
    tailer on it (every later line would wait behind it) or that the normalizer cannot store."""
    good = line("missed__no_answer").decode()
    start = next(c for c in good.split(",") if c.startswith('"2026-'))
    uniqueid = next(c for c in good.split(",") if c.count(".") == 1 and c.strip('"')[0].isdigit())
    bad = [good.replace(start, '"9999-12-31 23:59:59"'),
           good.replace(start, '"0001-01-01 00:00:00"'),
           good.replace(uniqueid, '"' + "7" * 300 + '"'),
           good.replace(uniqueid, '"1795766400.1\x00"'),
           good.replace(",30,0,", ",99999999999999999999999,0,", 1)]
    directory = tmp_path / "cdr"
    directory.mkdir()
    (directory / MASTER).write_text("".join([*bad, good]), encoding="utf-8")
    batch = CdrTailer(directory, gmt=gmt).read(None, received_at=RECEIVED)
    assert len(batch.skipped) == len(bad), batch.skipped
    (envelope,) = batch.envelopes
    assert envelope.external_id == uniqueid.strip('"')
