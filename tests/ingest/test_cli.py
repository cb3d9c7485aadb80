"""The ``cskh`` command line, run in-process on a SQLite file (and ``migrate`` on PostgreSQL)."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.cli import build_parser, main

AN = "Nguyễn Văn An"
QUEUES = ["cskh", "sales", "accounting", "warehouse", "technical"]


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("CSKH_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_staff_add_prints_id_name_and_token(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    made = run_json(capsys, "staff", "add", "--name", AN, "--queue", "cskh", "--queue", "sales")
    assert set(made) == {"id", "name", "token"}
    assert made["name"] == AN and isinstance(made["id"], int)
    assert isinstance(made["token"], str) and len(made["token"]) >= 32
    other = run_json(capsys, "staff", "add", "--name", "Trần Thị Bình", "--queue", "cskh")
    assert other["id"] != made["id"] and other["token"] != made["token"]


def test_staff_add_without_json_shows_the_token_once(
        db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "staff", "add", "--name", AN, "--queue", "cskh")
    assert code == 0
    token = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("token:"))
    code, listing, _ = run(capsys, "staff", "ls", "--json")
    assert code == 0 and token not in listing


def test_duplicate_staff_name_is_an_error(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_json(capsys, "staff", "add", "--name", AN, "--queue", "cskh")
    code, out, err = run(capsys, "staff", "add", "--name", AN, "--queue", "sales", "--json")
    assert code == 2 and out == ""
    assert err.startswith("cskh: error:") and AN in err
    assert len(run_json(capsys, "staff", "ls")) == 1


@pytest.mark.parametrize("argv", [
    ["--queue", "marketing"],
    ["--queue", "cskh", "--queue", "nope"],
])
def test_unknown_queue_is_an_error(db: Path, capsys: pytest.CaptureFixture[str],
                                   argv: list[str]) -> None:
    code, out, err = run(capsys, "staff", "add", "--name", AN, *argv)
    assert code == 2 and out == ""
    assert "unknown queue" in err
    assert run_json(capsys, "staff", "ls") == []


def test_bad_capacity_is_an_error(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "staff", "add", "--name", AN, "--queue", "cskh", "--capacity", "0")
    assert code == 2 and "capacity" in err


def test_staff_ls_and_set_status(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    made = run_json(capsys, "staff", "add", "--name", AN, "--queue", "cskh", "--queue", "sales",
                    "--capacity", "5", "--role", "lead")
    (row,) = run_json(capsys, "staff", "ls")
    assert row == {"id": made["id"], "name": AN, "role": "lead", "status": "online",
                   "capacity": 5, "open_tickets": 0, "queues": ["cskh", "sales"],
                   "shift": None}
    changed = run_json(capsys, "staff", "set-status", AN, "away")
    assert changed == {"id": made["id"], "name": AN, "status": "away"}
    (row,) = run_json(capsys, "staff", "ls")
    assert row["status"] == "away"
    code, out, _ = run(capsys, "staff", "ls")
    assert code == 0 and AN in out and "away" in out


def test_set_status_of_unknown_staff_is_an_error(
        db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "staff", "set-status", "Không Có Ai", "off")
    assert code == 2 and "Không Có Ai" in err


def test_set_status_rejects_unknown_status(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["staff", "set-status", AN, "busy"])
    assert exited.value.code == 2


def test_staff_shift_set_listed_and_cleared(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    made = run_json(capsys, "staff", "add", "--name", AN, "--queue", "cskh",
                    "--shift", "sat 08:00-12:00; Mon-Fri 8:00-17:00")
    (row,) = run_json(capsys, "staff", "ls")
    assert row["shift"] == "mon-fri 08:00-17:00; sat 08:00-12:00"  # stored in canonical form
    code, out, _ = run(capsys, "staff", "ls")
    assert code == 0 and "mon-fri 08:00-17:00; sat 08:00-12:00" in out
    changed = run_json(capsys, "staff", "set-shift", AN, "mon-sat 07:30-11:30,13:00-17:00")
    assert changed == {"id": made["id"], "name": AN, "shift": "mon-sat 07:30-11:30,13:00-17:00"}
    assert run_json(capsys, "staff", "ls")[0]["shift"] == "mon-sat 07:30-11:30,13:00-17:00"
    code, out, _ = run(capsys, "staff", "set-shift", AN, "none")
    assert code == 0 and "always on shift" in out
    (row,) = run_json(capsys, "staff", "ls")
    assert row["shift"] is None
    code, out, _ = run(capsys, "staff", "ls")
    assert "(always)" in out


@pytest.mark.parametrize(("spec", "says"), [
    ("mon-fri", "needs days and hours"),
    ("mon-fri 17:00-08:00", "cannot cross midnight"),
    ("thu-mon 08:00-12:00", "runs backwards"),
    ("mon-fri 08:00-12:00,11:00-13:00", "overlap"),
])
def test_a_bad_shift_is_refused_with_a_reason(db: Path, capsys: pytest.CaptureFixture[str],
                                              spec: str, says: str) -> None:
    code, out, err = run(capsys, "staff", "add", "--name", AN, "--queue", "cskh", "--shift", spec)
    assert code == 2 and out == ""
    assert err.startswith("cskh: error: shift: ") and says in err
    assert run_json(capsys, "staff", "ls") == []  # nothing half-made
    run_json(capsys, "staff", "add", "--name", AN, "--queue", "cskh", "--shift", "mon 08:00-09:00")
    code, _, err = run(capsys, "staff", "set-shift", AN, spec)
    assert code == 2 and says in err
    assert run_json(capsys, "staff", "ls")[0]["shift"] == "mon 08:00-09:00"  # unchanged


def test_set_shift_of_unknown_staff_is_an_error(
        db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "staff", "set-shift", "Không Có Ai", "mon-fri 08:00-17:00")
    assert code == 2 and "Không Có Ai" in err


def test_queue_ls_lists_the_five_queues(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_json(capsys, "staff", "add", "--name", AN, "--queue", "cskh", "--queue", "sales")
    rows = run_json(capsys, "queue", "ls")
    assert [r["name"] for r in rows] == QUEUES
    staffed = {r["name"]: r["staff"] for r in rows}
    assert staffed == {"cskh": 1, "sales": 1, "accounting": 0, "warehouse": 0, "technical": 0}
    assert all(set(r) == {"name", "staff", "queued", "assigned", "open", "waiting", "resolved"}
               for r in rows)
    assert all(r[s] == 0 for r in rows for s in ("queued", "assigned", "open", "waiting",
                                                   "resolved"))


def test_queue_show_of_a_new_officer_is_empty(db: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    run_json(capsys, "staff", "add", "--name", AN, "--queue", "cskh")
    assert run_json(capsys, "queue", "show", "--staff", AN) == []
    code, _, err = run(capsys, "queue", "show", "--staff", "Không Có Ai")
    assert code == 2 and "Không Có Ai" in err


def test_migrate_twice_is_a_no_op(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = run_json(capsys, "migrate")
    assert first["from"] is None and first["to"]
    again = run_json(capsys, "migrate")
    assert again == {"from": first["to"], "to": first["to"]}
    code, out, _ = run(capsys, "migrate")
    assert code == 0 and "already" in out


def test_missing_config_file_is_an_error(db: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "migrate", "--config", str(tmp_path / "nope.toml"))
    assert code == 2 and "nope.toml" in err


@pytest.mark.parametrize("argv", [
    [], ["serve"], ["migrate"], ["staff"], ["staff", "add"], ["staff", "ls"],
    ["staff", "set-status"], ["staff", "set-shift"], ["queue"], ["queue", "ls"], ["queue", "show"],
    ["model"], ["model", "train"], ["model", "eval"], ["dlq"], ["dlq", "ls"], ["dlq", "replay"],
], ids=lambda argv: " ".join(argv) or "cskh")
def test_every_command_has_help(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: cskh") and "--help" in out


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], str | None, argparse.ArgumentParser]]:
    """Every (sub)command under ``parser``: its words, its one-line help, its parser."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, child in action.choices.items():
                yield (*path, name), helps.get(name), child
                yield from _commands(child, (*path, name))


def test_every_command_has_a_summary_and_a_description() -> None:
    """`cskh --help` lists each command with a line; `cskh … CMD --help` says what it does."""
    found = list(_commands(build_parser()))
    assert len(found) > 30 and ("ticket", "show") in [words for words, _, _ in found]
    missing = [" ".join(words) for words, summary, child in found
               if not (summary and summary.strip() and child.description
                       and child.description.strip())]
    assert missing == []


@pytest.mark.postgres
async def test_migrate_on_postgresql(postgres_url: str, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CSKH_DATABASE_URL", postgres_url)
    # the CLI runs its own event loop, so it gets a thread of its own
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["migrate", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["from"] is None and first["to"]
    assert await asyncio.to_thread(main, ["migrate", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"from": first["to"], "to": first["to"]}
    assert await asyncio.to_thread(main, ["queue", "ls", "--json"]) == 0
    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == QUEUES


@pytest.mark.postgres
async def test_commands_refuse_an_unmigrated_postgresql(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CSKH_DATABASE_URL", postgres_url)
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["staff", "ls"]) == 2
    assert "cskh migrate" in capsys.readouterr().err


def test_model_train_includes_officer_corrections_and_eval_prints_scores(
        db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A correction stored through the staff API is an example of the next training set."""
    import asyncio
    import uuid

    from storage.db import create_engine, session_factory
    from storage.migrate import upgrade
    from storage.models import LabelCorrection, Ticket

    async def seed() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{db}")
        await upgrade(engine)
        async with session_factory(engine)() as session, session.begin():
            ticket = Ticket(public_id=uuid.uuid4(), channel="zalo", thread_key="t")
            session.add(ticket)
            await session.flush()
            session.add(LabelCorrection(
                ticket_id=ticket.id, channel="zalo", text="ck thang nay bao nhieu vay shop",
                category="discount", priority="normal", sentiment="neutral"))
        await engine.dispose()

    asyncio.run(seed())
    model = tmp_path / "m.joblib"
    report = run_json(capsys, "model", "train", "--out", str(model))
    assert report["extra"] == 1 and report["examples"] >= 1120
    assert model.is_file()
    test_file = tmp_path / "eval.jsonl"
    test_file.write_text(
        '{"text": "Hóa đơn VAT sai mã số thuế", "channel": "email", "category": "invoice",'
        ' "priority": "normal", "sentiment": "negative"}\n', encoding="utf-8")
    scores = run_json(capsys, "model", "eval", str(test_file), "--model", str(model))
    assert set(scores) >= {"category", "priority", "sentiment"}
    assert set(scores["category"]) >= {"accuracy", "macro_f1"}


def test_model_eval_on_a_fresh_install_trains_first_and_says_so(
        db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No model file yet (a fresh install): eval trains one as `serve` would, then scores."""
    test_file = tmp_path / "eval.jsonl"
    test_file.write_text(
        '{"text": "Giao hàng thiếu 2 thùng", "channel": "zalo", "category": "quantity",'
        ' "priority": "normal", "sentiment": "negative"}\n', encoding="utf-8")
    model = tmp_path / "fresh" / "cskh-model.joblib"
    capsys.readouterr()
    assert main(["model", "eval", str(test_file), "--model", str(model), "--json"]) == 0
    captured = capsys.readouterr()
    assert f"no model at {model}" in captured.err and "training" in captured.err
    assert model.is_file()
    assert set(json.loads(captured.out)) >= {"category", "priority", "sentiment"}
    assert main(["model", "eval", str(test_file), "--model", str(model)]) == 0
    assert "no model" not in capsys.readouterr().err  # the second time it is loaded
