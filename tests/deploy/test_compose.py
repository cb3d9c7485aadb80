"""deploy/compose/: loaded and validated by the Compose specification's own Go module.

No container engine runs here, so ``composecheck`` (tests/services/composecheck, built on
github.com/compose-spec/compose-go/v2) does what ``docker compose config`` does: interpolation
from the env file, the JSON schema, depends_on and healthchecks; the test then checks what the
resolved project runs.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ingest.cli import build_parser
from ingest.settings import ALL_ROLES, Settings
from tests.support.gotools import REPO, go_tool

COMPOSE_DIR = REPO / "deploy" / "compose"
COMPOSE = COMPOSE_DIR / "compose.yaml"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"


def load(compose: Path = COMPOSE, env_file: Path | None = ENV_EXAMPLE,
         ) -> subprocess.CompletedProcess[str]:
    args = [str(go_tool("composecheck"))]
    if env_file is not None:
        args += ["-env-file", str(env_file)]
    args += ["-project-dir", str(COMPOSE_DIR), str(compose)]
    # Only PATH from the outside: a POSTGRES_PASSWORD in the test's environment must not help.
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False,
                          env={"PATH": "/usr/bin:/bin"}, cwd=COMPOSE_DIR)


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    done = load()
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def test_each_role_is_its_own_service_running_serve_with_that_role(
        project: dict[str, Any]) -> None:
    services = project["services"]
    assert set(services) == {"kafka", "postgres", "migrate", *ALL_ROLES}
    for role in ALL_ROLES:
        command = services[role]["command"]
        assert command == ["serve", "--role", role]
        args = build_parser().parse_args(command)  # the real CLI accepts it
        assert args.role == [role]


def test_roles_wait_for_the_migrations_and_report_ready_on_readyz(
        project: dict[str, Any]) -> None:
    services = project["services"]
    for role in ALL_ROLES:
        service = services[role]
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert service["depends_on"]["kafka"]["condition"] == "service_healthy"
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD"
        assert "http://127.0.0.1:8080/readyz" in " ".join(test)
        assert service["build"]["context"] == str(REPO)  # the project's Dockerfile
        assert Path(service["build"]["context"], service["build"]["dockerfile"]).is_file()
    migrate = services["migrate"]
    assert migrate["command"] == ["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert build_parser().parse_args(migrate["command"]).command == "migrate"


def test_the_roles_reach_kraft_kafka_and_postgres_by_their_service_names(
        project: dict[str, Any]) -> None:
    services = project["services"]
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"
    assert "healthcheck" in kafka and "postgres" in services
    password = re.search(r"^POSTGRES_PASSWORD=(.*)$", ENV_EXAMPLE.read_text(), re.M)
    assert password is not None
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == password[1]
    for role in ALL_ROLES:
        role_env = services[role]["environment"]
        settings = Settings(bus=role_env["CSKH_BUS"], database_url=role_env["CSKH_DATABASE_URL"],
                            http_host=role_env["CSKH_HTTP_HOST"])
        assert settings.bus == "kafka://kafka:9092"
        assert settings.database_url == (
            f"postgresql+asyncpg://cskh:{password[1]}@postgres:5432/cskh")
    assert services["webhooks"]["ports"][0]["target"] == 8080
    assert services["normalizer"]["deploy"]["replicas"] == 2


def test_a_missing_password_is_refused_with_its_name() -> None:
    done = load(env_file=None)
    assert done.returncode == 1
    assert "POSTGRES_PASSWORD" in done.stderr


def test_an_invalid_file_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace(
        "condition: service_completed_successfully", "condition: when_it_feels_like_it", 1))
    done = load(broken)
    assert done.returncode == 1
    assert "when_it_feels_like_it" in done.stderr or "condition" in done.stderr


def test_every_setting_named_in_the_env_example_exists() -> None:
    names = re.findall(r"^#?\s*(CSKH_[A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.M)
    compose_only = {"CSKH_IMAGE", "CSKH_WEBHOOKS_PORT", "CSKH_NORMALIZER_REPLICAS",
                    "CSKH_ROUTER_REPLICAS"}
    fields = {f"CSKH_{name.upper()}" for name in Settings.model_fields}
    unknown = [n for n in names if n not in fields | compose_only]
    assert names and not unknown, unknown
