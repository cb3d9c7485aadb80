"""Toxiproxy (github.com/Shopify/toxiproxy/v2, built by ``tests/services/gotools.sh
toxiproxy``) as a process of the fault suite's own, between the service and PostgreSQL.

Only its HTTP API is used (https://github.com/Shopify/toxiproxy#http-api): ``POST /proxies``
creates a proxy, ``POST /proxies/{name}`` with ``enabled: false`` closes every connection
and refuses new ones until enabled again, ``POST /proxies/{name}/toxics`` adds a toxic
(``latency``, ``reset_peer``…), ``DELETE /proxies/{name}/toxics/{toxic}`` removes it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.service import free_port

REPO = Path(__file__).resolve().parents[2]
GOTOOLS = REPO / "tests" / "services" / "gotools.sh"


def executable() -> Path:
    """``CSKH_TEST_TOXIPROXY``, else the binary ``gotools.sh`` builds (once) or already has."""
    value = os.environ.get("CSKH_TEST_TOXIPROXY")
    if value and os.access(value, os.X_OK):
        return Path(value)
    done = subprocess.run([str(GOTOOLS), "toxiproxy"], capture_output=True, text=True,
                          timeout=1800, check=False)
    for line in done.stdout.splitlines():
        tool, _, path = line.partition("=")
        if tool == "toxiproxy" and os.access(path, os.X_OK):
            return Path(path)
    raise RuntimeError(f"toxiproxy could not be built: {done.stderr.strip()[-2000:]}")


class Toxiproxy:
    """A toxiproxy server on a free port of 127.0.0.1, and its proxies."""

    def __init__(self, binary: Path, work: Path) -> None:
        self.binary = binary
        self.work = work
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self, http: aiohttp.ClientSession) -> None:
        log = (self.work / "toxiproxy.log").open("ab")
        self.proc = subprocess.Popen([str(self.binary), "-host", "127.0.0.1", "-port",
                                      str(self.port)], stdout=log, stderr=log)
        for _ in range(200):
            if self.proc.poll() is not None:
                raise RuntimeError((self.work / "toxiproxy.log").read_text()[-2000:])
            try:
                async with http.get(f"{self.api}/version") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        raise RuntimeError("toxiproxy did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.proc = None

    async def _call(self, http: aiohttp.ClientSession, method: str, path: str,
                    body: dict[str, Any] | None = None) -> None:
        async with http.request(method, f"{self.api}{path}", json=body) as resp:
            if resp.status >= 300:
                raise RuntimeError(f"toxiproxy {method} {path}: {resp.status} "
                                   f"{await resp.text()}")

    async def proxy(self, http: aiohttp.ClientSession, name: str, upstream: str,
                    listen: int | None = None) -> int:
        """Create proxy ``name`` to ``upstream`` (``host:port``), listening on ``listen`` (a
        free port when not given); the port it listens on."""
        port = listen or free_port()
        await self._call(http, "POST", "/proxies", {
            "name": name, "listen": f"127.0.0.1:{port}", "upstream": upstream, "enabled": True})
        return port

    async def enable(self, http: aiohttp.ClientSession, name: str, enabled: bool) -> None:
        """Disabled: every connection closed, new ones refused."""
        await self._call(http, "POST", f"/proxies/{name}", {"enabled": enabled})

    async def add_toxic(self, http: aiohttp.ClientSession, name: str, toxic: str, kind: str,
                        attributes: dict[str, int]) -> None:
        await self._call(http, "POST", f"/proxies/{name}/toxics", {
            "name": toxic, "type": kind, "stream": "downstream", "toxicity": 1.0,
            "attributes": attributes})

    async def remove_toxic(self, http: aiohttp.ClientSession, name: str, toxic: str) -> None:
        await self._call(http, "DELETE", f"/proxies/{name}/toxics/{toxic}")
