"""The Dockerfile, build-checked without a container engine.

BuildKit's own parser (the ``dockerfile`` package wraps it) reads the file; every path it
copies exists and survives .dockerignore; the packages it copies are those pyproject.toml
installs; the ``cskh`` commands it runs and starts parse with the real CLI; the health check
is a Python one-liner that fails on a non-2xx answer.
"""

from __future__ import annotations

import fnmatch
import http.server
import shlex
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import dockerfile
import pytest

from ingest.cli import build_parser

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def commands() -> list[dockerfile.Command]:
    return list(dockerfile.parse_file(str(REPO / "Dockerfile")))


def first(commands: list[dockerfile.Command], cmd: str) -> dockerfile.Command:
    return next(c for c in commands if c.cmd == cmd)


def ignored(path: str) -> bool:
    """Whether .dockerignore leaves ``path`` out of the build context (last match wins)."""
    patterns = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    parts = Path(path).parts
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        if any(fnmatch.fnmatchcase(c, pattern) for c in candidates):
            result = not negate
    return result


def test_slim_python_311_as_a_user_that_is_not_root(commands: list[dockerfile.Command]) -> None:
    assert commands[0].cmd == "FROM" and commands[0].value == ("python:3.11-slim",)
    user = [c for c in commands if c.cmd == "USER"]
    assert user and user[-1].value[0].split(":")[0] not in ("root", "0")
    # the user is made before it is used
    made = first(commands, "RUN").value[0]
    assert "useradd" in made and user[-1].value[0].split(":")[0] in made.split()


def test_everything_copied_exists_survives_dockerignore_and_is_what_pip_installs(
        commands: list[dockerfile.Command]) -> None:
    copied: list[str] = []
    for c in commands:
        if c.cmd in ("COPY", "ADD"):
            assert not c.flags, c.flags  # no --from: a one-stage build from this context
            copied += c.value[:-1]
    for source in copied:
        assert (REPO / source).exists(), source
        assert not ignored(source), f"{source} is left out by .dockerignore"
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]
                ["include"]}
    assert packages <= set(copied), packages - set(copied)
    assert {"pyproject.toml", pyproject["project"]["readme"]} <= set(copied)
    # what the image does not need stays out of the context
    for path in (".venv", ".git", ".services", "tests", "cskh.db", "deploy"):
        assert ignored(path), path


def test_the_cskh_commands_it_runs_and_starts_are_real(
        commands: list[dockerfile.Command]) -> None:
    parser = build_parser()
    runs = " && ".join(c.value[0] for c in commands if c.cmd == "RUN")
    steps = [shlex.split(step) for step in runs.split("&&")]
    assert ["pip", "install", "."] in steps
    cskh_steps = [s for s in steps if s[0] == "cskh"]
    assert cskh_steps
    for step in cskh_steps:
        args = parser.parse_args(step[1:])
        assert args.no_corrections  # trains from the shipped data: no database at build time
    entry = first(commands, "ENTRYPOINT")
    cmd = first(commands, "CMD")
    assert entry.json and entry.value == ("cskh",)
    assert cmd.json and parser.parse_args(list(cmd.value)).command == "serve"
    pairs = sum((c.value for c in commands if c.cmd == "ENV"), ())
    env = dict(zip(pairs[::2], pairs[1::2], strict=True))
    assert env["CSKH_HTTP_HOST"] == "0.0.0.0"
    assert env["CSKH_MODEL_PATH"] in " ".join(" ".join(s) for s in cskh_steps)


class _Answer(http.server.BaseHTTPRequestHandler):
    status = 200
    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).paths.append(self.path)
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def answer() -> Iterator[tuple[int, type[_Answer]]]:
    class Handler(_Answer):
        paths: ClassVar[list[str]] = []

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], Handler
    server.shutdown()
    server.server_close()


def test_the_healthcheck_asks_healthz_and_fails_on_an_error_answer(
        commands: list[dockerfile.Command], answer: tuple[int, type[_Answer]]) -> None:
    check = first(commands, "HEALTHCHECK")
    assert check.json and check.value[0] == "CMD" and check.value[1] == "python"
    assert {f.split("=")[0] for f in check.flags} >= {"--interval", "--timeout", "--retries"}
    port, handler = answer
    argv = [sys.executable, *check.value[2:]]
    env = {"CSKH_HTTP_PORT": str(port)}
    assert subprocess.run(argv, env=env, capture_output=True, timeout=30).returncode == 0
    handler.status = 503
    assert subprocess.run(argv, env=env, capture_output=True, timeout=30).returncode != 0
    assert handler.paths == ["/healthz", "/healthz"]
