"""The README's "Try it" block, pasted whole into bash on a fresh data directory, works.

The block is read from ``README.md`` itself, so the README cannot drift from the code. Only
the port is changed (8080 may be taken on a shared machine); the block runs against the
embedded default it describes, in an empty directory holding links to this checkout's
``Makefile``, ``pyproject.toml`` and ``.venv``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.service import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def try_it_block() -> str:
    """The first ``sh`` code block under the README's ``## Try it`` heading."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Try it\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```sh\n(.*?)```", section, re.S)
    assert found, "no sh block under ## Try it"
    return found.group(1)


def test_the_readme_try_it_block_works_pasted_whole_on_a_first_run(tmp_path: Path) -> None:
    block = try_it_block()
    assert "localhost:8080" in block and "cskh serve" in block
    # The block's `make .venv/.installed` must find this checkout's install up to date: were it
    # stale, pip would reinstall the project from the empty directory and break the shared venv.
    subprocess.run(["make", "-s", ".venv/.installed"], cwd=ROOT, check=True, timeout=600)
    port = free_port()
    # Whatever happens, the service the block started is stopped (and waited for) at the end.
    script = ("trap 'kill ${SERVE:-} 2>/dev/null; wait' EXIT\n"
              + block.replace("localhost:8080", f"localhost:{port}"))
    for name in ("Makefile", "pyproject.toml", ".venv"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CSKH_") or k == "CSKH_MODEL_PATH"}  # the defaults it shows
    env |= {"CSKH_HTTP_PORT": str(port)}
    done = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    ready, accepted, queue = [json.loads(line) for line in lines if line.startswith("{")]
    assert ready["status"] == "ready" and accepted["status"] == "accepted"
    (ticket,) = queue["tickets"] if isinstance(queue, dict) else queue
    assert ticket["subject"] == "Hóa đơn sai MST" and ticket["category"] == "invoice"
    assert any("Hóa đơn sai MST" in line and "invoice" in line
               for line in lines)  # what `cskh queue show` printed
    log = [json.loads(line) for line in
           (tmp_path / "cskh-serve.log").read_text(encoding="utf-8").splitlines()
           if line.startswith("{")]
    assert log[0]["event"] == "service.starting"
    assert [e["listen"] for e in log if e["event"] == "service.ready"] == [
        f"http://127.0.0.1:{port}"]
