"""The durable ceiling: an aiohttp app whose webhook makes the durable write a 202 needs, and
nothing else (no validation, no envelope), then answers 202.

    python tests/bench/durable.py PORT sqlite PATH [FULL|NORMAL]
    python tests/bench/durable.py PORT kafka BOOTSTRAP TOPIC [PARTITIONS]

``sqlite``: the body is inserted into the WAL-mode SQLite file PATH with ``synchronous=FULL``
(an fsync per commit; ``NORMAL`` to match ``CSKH_BUS_FSYNC=normal``), by one writer thread
that takes every body waiting into one INSERT (a group commit, as any durable log on one disk
must do to be worth measuring against) and wakes the event loop once per batch.

``kafka``: the body is sent with aiokafka to TOPIC (created with PARTITIONS, 4, if missing),
idempotent producer, ``acks="all"``, ``linger_ms=1`` (the service's settings), one
``send`` per request, answered when the broker acknowledges it.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

Write = Callable[[bytes], "asyncio.Future[None]"]
WRITE: web.AppKey[Write] = web.AppKey("write")
_STOP = object()


class SqliteLog:
    """Bodies into one SQLite table, group-committed by one thread."""

    def __init__(self, path: str, synchronous: str, loop: asyncio.AbstractEventLoop) -> None:
        self._path = path
        self._synchronous = synchronous
        self._loop = loop
        self._ops: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="durable-sqlite", daemon=True)
        self._ready = threading.Event()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()

    def stop(self) -> None:
        self._ops.put(_STOP)
        self._thread.join()

    def write(self, body: bytes) -> asyncio.Future[None]:
        done: asyncio.Future[None] = self._loop.create_future()
        self._ops.put((body, done))
        return done

    def _serve(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute("CREATE TABLE IF NOT EXISTS records (id INTEGER PRIMARY KEY, "
                     "value BLOB NOT NULL, at_ms INTEGER NOT NULL)")
        self._ready.set()
        while True:
            op = self._ops.get()
            if op is _STOP:
                conn.close()
                return
            batch: list[Any] = [op]
            stop = False
            while len(batch) < 1000:
                try:
                    nxt = self._ops.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)
            now = int(time.time() * 1000)
            error: BaseException | None = None
            try:
                # one statement commits by itself: one fsync for the whole batch
                conn.execute("INSERT INTO records (value, at_ms) VALUES "
                             + ",".join(["(?, ?)"] * len(batch)),
                             [v for body, _ in batch for v in (body, now)])
            except sqlite3.Error as exc:
                error = exc
            self._loop.call_soon_threadsafe(_settle, [done for _, done in batch], error)
            if stop:
                conn.close()
                return


def _settle(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for done in futures:
        if done.done():
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)


def sqlite_ctx(path: str, synchronous: str) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        log = SqliteLog(path, synchronous, asyncio.get_running_loop())
        await asyncio.to_thread(log.start)
        app[WRITE] = log.write
        yield
        await asyncio.to_thread(log.stop)
    return ctx


def kafka_ctx(bootstrap: str, topic: str,
              partitions: int) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, partitions, 1)])
        except TopicAlreadyExistsError:
            pass
        finally:
            await admin.close()
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True,
                                    acks="all", linger_ms=1)
        await producer.start()

        def write(body: bytes) -> asyncio.Future[None]:
            async def sent() -> None:
                await (await producer.send(topic, body))
            return asyncio.ensure_future(sent())

        app[WRITE] = write
        yield
        await producer.stop()
    return ctx


async def accept(request: web.Request) -> web.Response:
    body = await request.read()
    await request.app[WRITE](body)
    return web.json_response({"status": "accepted"}, status=202)


async def ready(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ready"})


def make_app(argv: list[str]) -> web.Application:
    app = web.Application(client_max_size=1 << 20)
    if argv[0] == "sqlite":
        app.cleanup_ctx.append(sqlite_ctx(argv[1], argv[2] if len(argv) > 2 else "FULL"))
    elif argv[0] == "kafka":
        app.cleanup_ctx.append(kafka_ctx(argv[1], argv[2], int(argv[3]) if len(argv) > 3 else 4))
    else:
        raise SystemExit(__doc__)
    app.router.add_post("/webhooks/webform", accept)
    app.router.add_get("/readyz", ready)
    return app


if __name__ == "__main__":
    web.run_app(make_app(sys.argv[2:]), host="127.0.0.1", port=int(sys.argv[1]),
                access_log=None, print=None)
