"""The Go tools the tests run: compose-go's checker and helm (deployment), Toxiproxy (faults).

``tests/services/services.sh up`` builds them once into ``.services/bin`` and exports
``CSKH_TEST_COMPOSECHECK`` and ``CSKH_TEST_HELM``; when those are unset the tests build them
themselves with ``tests/services/gotools.sh`` (cached there too). Without Go a test that needs
one is skipped, except under CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GOTOOLS = REPO / "tests" / "services" / "gotools.sh"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
VARIABLES = {"composecheck": "CSKH_TEST_COMPOSECHECK", "helm": "CSKH_TEST_HELM",
             "toxiproxy": "CSKH_TEST_TOXIPROXY"}


def go_tool(name: str) -> Path:
    """The path of the tool ``name`` (a key of ``VARIABLES``), built when missing."""
    variable = VARIABLES[name]
    value = os.environ.get(variable)
    if value and os.access(value, os.X_OK):
        return Path(value)
    problem = f"{name} is not available: {variable} is unset (run `make services`)"
    if value:
        problem = f"{name} is not available: {variable}={value} is not an executable"
    elif shutil.which("go") is None:
        problem += " and there is no `go` command to build it"
    else:
        done = subprocess.run([str(GOTOOLS), name], capture_output=True, text=True,
                              timeout=1800, check=False)
        for line in done.stdout.splitlines():
            tool, _, path = line.partition("=")
            if tool == name and os.access(path, os.X_OK):
                return Path(path)
        problem = f"{name} could not be built: {done.stderr.strip()[-2000:]}"
    if IN_CI:
        pytest.fail(f"{problem}; under CI every tool is mandatory", pytrace=False)
    pytest.skip(problem)
