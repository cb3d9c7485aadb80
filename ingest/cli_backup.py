"""``cskh backup PATH`` and ``cskh restore PATH``: the embedded default's files, consistent.

A backup is a directory: the SQLite database, the embedded log, the pullers' cursor files, the
mail attachments, and ``manifest.json`` (what each file is, where it came from, its sha256).
It is taken online, while ``cskh serve`` runs, with SQLite's backup API (each file copied
in one step, so each copy is one transaction's state), in this order:

1. the cursors (how far each mailbox and the call log were read),
2. the log (the records and every consumer group's committed offsets),
3. the database (tickets, messages, the processed-event ledgers),
4. the attachments.

Each copy is at least as new as the one before, which is what restoring it needs: the log
holds everything the cursors say was read (the pullers append before they move a cursor),
and the database holds the effect of everything the log says was committed (a consumer commits
its offsets only after its effect). Whatever the database holds beyond that, the restored log
delivers again and the consumers' idempotency (keyed by the provider's ids) makes it no second
ticket, message or reply; whatever the log holds beyond the cursors, the pullers fetch again
and it is deduplicated the same way. So a restore goes back to the backup's moment and carries
on from there without loss or duplicates.

``cskh serve`` on the embedded default holds an exclusive ``flock`` on ``<file>.lock`` beside
each of its files while it runs (``ingest.startup.single_instance``); ``restore`` takes the same
locks, so it refuses while a ``serve`` is running and a ``serve`` started during a restore
refuses too.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from ingest.lifecycle import embedded_bus_path
from ingest.mailboxes import configured, cursor_path
from ingest.registry import cdr_tailer
from ingest.settings import Settings
from ingest.startup import embedded_files
from storage.db import is_sqlite, sqlite_path

MANIFEST = "manifest.json"
FORMAT = 1


class BackupError(Exception):
    """A backup or restore that cannot be done as asked (printed, exit 2)."""


def _embedded_files(settings: Settings) -> tuple[Path, Path]:
    """(database file, log file) of the embedded default; ``BackupError`` otherwise."""
    if not is_sqlite(settings.database_url) or settings.kafka_bootstrap:
        raise BackupError(
            "backup and restore are for the embedded default (SQLite database and embedded "
            "log); back PostgreSQL up with pg_dump or its base backups, Kafka with its own "
            "replication")
    database = sqlite_path(settings.database_url)
    if not database or database == ":memory:":
        raise BackupError(f"the database is not a file: {settings.database_url}")
    return Path(database), Path(embedded_bus_path(settings))


@contextlib.contextmanager
def _held_like_serve(settings: Settings) -> Iterator[bool]:
    """The exclusive locks ``cskh serve`` holds beside each embedded file, taken for the
    body (True), or False at once when a ``serve`` holds one."""
    handles: list[IO[str]] = []
    try:
        for file in embedded_files(settings):
            lock = file.with_name(file.name + ".lock")
            lock.parent.mkdir(parents=True, exist_ok=True)
            handle = lock.open("a+", encoding="utf-8")
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                yield False
                return
            handle.truncate(0)  # what a refused `serve` prints as the holder
            handle.write(f"{os.getpid()}, a `cskh restore`\n")
            handle.flush()
            handles.append(handle)
        yield True
    finally:
        for held in handles:
            held.close()


def _cursors(settings: Settings) -> dict[str, Path]:
    """The pullers' cursor files by a stable key (those of the SQLite set-up are files)."""
    found: dict[str, Path] = {}
    for box, legacy in configured(settings):
        for folder in box.folders:
            found[f"imap:{box.name}/{folder}"] = cursor_path(
                settings.imap_cursor_path, box.name, folder, legacy=legacy)
    tailer = cdr_tailer(settings)
    if tailer is not None:
        found["hotline"] = tailer[1]
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_sqlite(source: Path, target: Path) -> None:
    """``source`` into ``target`` with SQLite's online backup, in one step."""
    src = sqlite3.connect(source)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst, pages=-1)
            dst.commit()
        finally:
            dst.close()
    finally:
        src.close()


def _check(path: Path) -> None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (result,) = conn.execute("PRAGMA integrity_check").fetchone()
    finally:
        conn.close()
    if result != "ok":
        raise BackupError(f"{path}: integrity check failed: {result}")


def _revision(path: Path) -> str | None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    finally:
        conn.close()
    return str(row[0]) if row else None


def backup(settings: Settings, dest: Path) -> dict[str, Any]:
    """Write a backup of the embedded default's files into the new directory ``dest``."""
    database, log = _embedded_files(settings)
    if not database.is_file():
        raise BackupError(f"no database at {database}: nothing to back up")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} exists and is not an empty directory: a backup never "
                          "overwrites anything")
    work = dest.with_name(f".{dest.name}.partial")
    shutil.rmtree(work, ignore_errors=True)
    (work / "cursors").mkdir(parents=True)
    try:
        cursors = []
        for i, (key, path) in enumerate(sorted(_cursors(settings).items())):
            if path.is_file():
                name = f"cursors/{i}.json"
                shutil.copyfile(path, work / name)
                cursors.append({"key": key, "file": name, "source": str(path.resolve())})
        files: dict[str, dict[str, Any]] = {}
        for role, source in (("bus", log), ("database", database)):
            if not source.is_file():
                continue  # a database that never had a log (nothing was served yet)
            name = source.name if role == "database" else f"bus-{source.name}"
            _copy_sqlite(source, work / name)
            _check(work / name)
            files[role] = {"file": name, "source": str(source.resolve())}
        attachments = settings.attachment_dir
        copied = 0
        if attachments.is_dir():
            shutil.copytree(attachments, work / "attachments")
            copied = sum(1 for p in (work / "attachments").rglob("*") if p.is_file())
        for entry in [*files.values(), *cursors]:
            entry["sha256"] = _sha256(work / entry["file"])
            entry["bytes"] = (work / entry["file"]).stat().st_size
        manifest = {
            "format": FORMAT, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "schema": _revision(work / files["database"]["file"]),
            "database": files["database"], "bus": files.get("bus"), "cursors": cursors,
            "attachments": {"dir": "attachments", "files": copied,
                            "source": str(attachments.resolve())} if copied else None,
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        if dest.exists():
            dest.rmdir()
        os.replace(work, dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return manifest


def _read_manifest(src: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((src / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError(f"{src} is not a backup: no {MANIFEST}") from None
    except json.JSONDecodeError as exc:
        raise BackupError(f"{src / MANIFEST}: not JSON ({exc})") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{src}: backup format {manifest.get('format')!r}, this cskh reads "
                          f"{FORMAT}")
    for entry in [manifest["database"], manifest.get("bus"), *manifest["cursors"]]:
        if entry is None:
            continue
        path = src / entry["file"]
        if not path.is_file():
            raise BackupError(f"{src}: {entry['file']} is missing")
        if _sha256(path) != entry["sha256"]:
            raise BackupError(f"{src}: {entry['file']} does not match its sha256 in "
                              f"{MANIFEST}: the backup is damaged")
    return manifest


def restore(settings: Settings, src: Path) -> dict[str, Any]:
    """Put the backup in ``src`` in place of the embedded default's files (the settings' paths;
    cursors where they were). Refuses while a ``cskh serve`` holds the files."""
    database, log = _embedded_files(settings)
    manifest = _read_manifest(src)
    with _held_like_serve(settings) as held:
        if not held:
            raise BackupError(f"a `cskh serve` is running on {database} and {log}: stop it "
                              "first (restore replaces the files it has open)")
        database.parent.mkdir(parents=True, exist_ok=True)
        _copy_sqlite(src / manifest["database"]["file"], database)
        if manifest.get("bus"):
            _copy_sqlite(src / manifest["bus"]["file"], log)
        else:
            for leftover in (log, Path(f"{log}-wal"), Path(f"{log}-shm")):
                leftover.unlink(missing_ok=True)
        for entry in manifest["cursors"]:
            target = Path(entry["source"])
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / entry["file"], target)
        if manifest.get("attachments"):
            shutil.copytree(src / manifest["attachments"]["dir"], settings.attachment_dir,
                            dirs_exist_ok=True)
    return manifest


def _summary(manifest: dict[str, Any]) -> list[str]:
    lines = [f"database: {manifest['database']['file']} "
             f"({manifest['database']['bytes']} bytes, schema {manifest['schema']})"]
    if manifest.get("bus"):
        lines.append(f"log: {manifest['bus']['file']} ({manifest['bus']['bytes']} bytes)")
    lines += [f"cursor: {c['key']}" for c in manifest["cursors"]]
    if manifest.get("attachments"):
        lines.append(f"attachments: {manifest['attachments']['files']} files")
    return lines


def cmd_backup(args: argparse.Namespace) -> int:
    from ingest.cli import CliError, _print, _settings

    try:
        manifest = backup(_settings(args), args.path)
    except BackupError as exc:
        raise CliError(str(exc)) from exc
    _print(args, {"path": str(args.path), **manifest},
           [f"backup written to {args.path} ({manifest['created_at']})", *_summary(manifest)])
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from ingest.cli import CliError, _print, _settings

    try:
        manifest = restore(_settings(args), args.path)
    except BackupError as exc:
        raise CliError(str(exc)) from exc
    _print(args, {"path": str(args.path), **manifest},
           [f"restored the backup of {manifest['created_at']} from {args.path}",
            *_summary(manifest)])
    return 0


def add_backup_parser(sub: Any, common: argparse.ArgumentParser,
                      out: argparse.ArgumentParser) -> None:
    """``cskh backup PATH`` and ``cskh restore PATH``."""
    b = sub.add_parser(
        "backup", parents=[common, out],
        help="back up the embedded default's files (database, log, cursors, attachments)",
        description="Copy the SQLite database and the embedded log (SQLite's online backup, "
                    "while `cskh serve` runs), the pullers' cursors and the attachments into "
                    "the new directory PATH, consistent with each other. For PostgreSQL and "
                    "Kafka use their own tools.")
    b.add_argument("path", type=Path, metavar="PATH", help="a directory that does not exist yet")
    b.set_defaults(func=cmd_backup)
    r = sub.add_parser(
        "restore", parents=[common, out],
        help="put a backup made by `cskh backup` back in place (stop `cskh serve` first)",
        description="Replace the database and the embedded log named by the settings, and the "
                    "cursors, with those of the backup in PATH (checked against its "
                    "manifest); attachments are copied back beside the ones there. Refuses "
                    "while a `cskh serve` runs on these files.")
    r.add_argument("path", type=Path, metavar="PATH", help="a directory made by `cskh backup`")
    r.set_defaults(func=cmd_restore)
