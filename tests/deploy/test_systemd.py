"""deploy/systemd/: checked by ``systemd-analyze verify`` (Debian's systemd package).

The units name the installed path /opt/cskh/bin/cskh; verify refuses a unit whose command does
not exist, so the check runs on copies that name this checkout's ``cskh`` instead (the only
change). Every role's instance is verified, and its command is parsed by the real CLI.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.cli import build_parser
from ingest.settings import ALL_ROLES, Settings

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "deploy" / "systemd"
INSTALLED = "/opt/cskh/bin/cskh"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def directives(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file as section -> key -> values (a key may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found:
        return found
    problem = "systemd-analyze is not installed (Debian package systemd; .ci/run installs it)"
    if IN_CI:
        pytest.fail(problem, pytrace=False)
    pytest.skip(problem)


def verify(units: Path, names: list[str]) -> subprocess.CompletedProcess[str]:
    cskh = Path(sys.executable).with_name("cskh")
    assert cskh.is_file()
    for unit in UNITS.glob("*.service"):
        (units / unit.name).write_text(unit.read_text().replace(INSTALLED, str(cskh)))
    for unit in UNITS.glob("*.target"):
        shutil.copy(unit, units)
    return subprocess.run([analyze(), "verify", "--man=no", *(str(units / n) for n in names)],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "SYSTEMD_LOG_LEVEL": "notice"})


def test_every_role_instance_the_migrations_and_the_target_verify_cleanly(
        tmp_path: Path) -> None:
    names = [f"cskh@{role}.service" for role in ALL_ROLES]
    done = verify(tmp_path, [*names, "cskh-migrate.service", "cskh.target"])
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    target = directives(UNITS / "cskh.target")
    assert set(target["Unit"]["Wants"][0].split()) == set(names)


def test_verify_catches_a_wrong_key(tmp_path: Path) -> None:
    done = verify(tmp_path, ["cskh@router.service"])
    assert done.returncode == 0
    unit = tmp_path / "cskh@.service"
    unit.write_text(unit.read_text().replace("ProtectSystem=strict", "ProtectSystem=stricter"))
    done = subprocess.run([analyze(), "verify", "--man=no", str(tmp_path / "cskh@router.service")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert "stricter" in done.stderr


def test_the_role_unit_is_hardened_and_restarts_on_failure() -> None:
    service = directives(UNITS / "cskh@.service")["Service"]
    expected = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
                "DynamicUser": "yes", "StateDirectory": "cskh", "Restart": "on-failure",
                "ProtectHome": "yes", "CapabilityBoundingSet": ""}
    for key, value in expected.items():
        assert service[key] == [value], key
    assert "/etc/cskh/cskh.env" in service["EnvironmentFile"]
    assert service["WorkingDirectory"] == ["/var/lib/cskh"]
    migrate = directives(UNITS / "cskh-migrate.service")
    assert migrate["Service"]["Type"] == ["oneshot"]
    assert shlex.split(migrate["Service"]["ExecStart"][0]) == [INSTALLED, "migrate"]
    unit = directives(UNITS / "cskh@.service")["Unit"]
    assert "cskh-migrate.service" in unit["Requires"][0].split()
    assert "cskh-migrate.service" in unit["After"][0].split()


def test_each_role_command_is_one_the_cli_accepts() -> None:
    exec_start = directives(UNITS / "cskh@.service")["Service"]["ExecStart"][0]
    for role in ALL_ROLES:
        argv = shlex.split(exec_start.replace("%i", role))
        assert argv[0] == INSTALLED
        assert build_parser().parse_args(argv[1:]).role == [role]


def test_the_example_env_file_names_real_settings() -> None:
    fields = {f"CSKH_{name.upper()}" for name in Settings.model_fields}
    names = []
    for line in (UNITS / "cskh.env.example").read_text().splitlines():
        key = line.lstrip("# ").partition("=")[0]
        if key.startswith("CSKH_"):
            names.append(key)
    assert names and set(names) <= fields, set(names) - fields
