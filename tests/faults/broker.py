"""A Kafka broker of the fault suite's own, so it can be restarted and cut off.

The shared test broker (``tests/services/services.sh``) is never touched. This one is a
single KRaft node (broker and controller) from the same jars and Java
(``CSKH_TEST_KAFKA_JARS``, ``CSKH_TEST_JAVA``), with its data in the suite's work folder. With
a Toxiproxy in front, its advertised listener is the proxy's port: the clients' bootstrap and
every connection the metadata sends them to go through the proxy, so disabling the proxy cuts
them all off (a broker in a partitioned network), and its toxics slow them down.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from tests.support.service import free_port

PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=PLAINTEXT://127.0.0.1:{advertised}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
num.partitions=4
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=2
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
log.segment.bytes=16777216
"""


def available() -> bool:
    """Whether the jars and Java of the shared broker are known (``.services/env``)."""
    jars, java = os.environ.get("CSKH_TEST_KAFKA_JARS"), os.environ.get("CSKH_TEST_JAVA")
    return bool(jars and java and Path(jars).is_dir() and os.access(java, os.X_OK))


class OwnBroker:
    """One KRaft node on free ports of 127.0.0.1, advertising ``advertised`` (a proxy's port)."""

    def __init__(self, work: Path, advertised: int | None = None) -> None:
        self.work = work / "kafka"
        self.port = free_port()
        self.controller = free_port()
        self.advertised = advertised or self.port
        self.jars = Path(os.environ["CSKH_TEST_KAFKA_JARS"])
        self.java = os.environ["CSKH_TEST_JAVA"]
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    @property
    def bootstrap(self) -> str:
        """What the service is given: the advertised address."""
        return f"127.0.0.1:{self.advertised}"

    def _java(self, *args: str) -> list[str]:
        return [self.java, "-Xms128m", "-Xmx384m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
                f"-Dkafka.logs.dir={self.work / 'logs'}", "-cp", f"{self.jars}/*", *args]

    def format(self) -> None:
        """Write the properties and format empty KRaft storage (once)."""
        (self.work / "logs").mkdir(parents=True, exist_ok=True)
        props = self.work / "server.properties"
        props.write_text(PROPERTIES.format(controller=self.controller, port=self.port,
                                           advertised=self.advertised, data=self.work / "data"))
        cluster = uuid.uuid4().bytes
        cid = base64.urlsafe_b64encode(cluster).decode().rstrip("=")
        done = subprocess.run(self._java("kafka.tools.StorageTool", "format", "-t", cid, "-c",
                                         str(props)), capture_output=True, text=True,
                              timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"kafka storage format failed: {done.stdout}{done.stderr}")

    async def start(self, timeout: float = 120.0) -> float:
        """Start the broker and wait until it answers metadata at the advertised address (the
        proxy in front must exist); the seconds it took."""
        began = time.monotonic()
        log = (self.work / "logs" / "kafka.out").open("ab")
        self.proc = subprocess.Popen(
            self._java("kafka.Kafka", str(self.work / "server.properties")),
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        while time.monotonic() - began < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the suite's broker exited: see {self.work / 'logs'}")
            if await self._answers():
                return time.monotonic() - began
            await asyncio.sleep(0.5)
        raise RuntimeError(f"the suite's broker did not answer in {timeout:.0f}s")

    async def _answers(self) -> bool:
        # aiokafka logs every refused connection while the broker starts: not news here
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap,
                                    request_timeout_ms=3000)
        try:
            await admin.start()
            await admin.list_topics()
            return True
        except Exception:
            return False
        finally:
            with contextlib.suppress(Exception):
                await admin.close()

    def kill(self) -> None:
        """``kill -9``: what it had not fsync'd is gone (acks=all writes were)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None

    async def restart(self) -> float:
        """Stop (SIGTERM, as systemd does: a controlled shutdown) and start again; seconds."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                await asyncio.to_thread(self.proc.wait, 60)
            except subprocess.TimeoutExpired:
                self.kill()
        self.restarts += 1
        return await self.start()

    def stop(self, remove: bool = True) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None
        if remove:
            shutil.rmtree(self.work / "data", ignore_errors=True)
