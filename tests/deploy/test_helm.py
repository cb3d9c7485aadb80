"""deploy/helm/cskh: rendered with ``helm template`` (helm.sh/helm/v4, built from the Go module
proxy into .services/bin) and the manifests checked as Kubernetes would read them."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from ingest.cli import build_parser
from ingest.settings import ALL_ROLES
from tests.support.gotools import REPO, go_tool

CHART = REPO / "deploy" / "helm" / "cskh"
DB_URL = "postgresql+asyncpg://cskh:pw@postgres:5432/cskh"
Manifest = dict[str, Any]


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(go_tool("helm")), *args], capture_output=True, text=True,
                          timeout=300, check=False)


def render(*sets: str) -> list[Manifest]:
    flags = [f for s in sets for f in ("--set-string" if "URL" in s else "--set", s)]
    done = helm("template", "shop", str(CHART), *flags)
    assert done.returncode == 0, done.stderr
    return [m for m in yaml.safe_load_all(done.stdout) if m]


def by_kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


@pytest.fixture(scope="module")
def manifests() -> list[Manifest]:
    return render(f"secrets.CSKH_DATABASE_URL={DB_URL}", "secrets.CSKH_IMAP_PASSWORD=mật-khẩu")


def test_helm_lint_passes() -> None:
    done = helm("lint", str(CHART), "--set-string", f"secrets.CSKH_DATABASE_URL={DB_URL}")
    assert done.returncode == 0, done.stdout + done.stderr


def test_one_deployment_per_role_with_its_replicas_resources_and_probes(
        manifests: list[Manifest]) -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    deployments = by_kind(manifests, "Deployment")
    assert set(deployments) == {f"shop-cskh-{role}" for role in ALL_ROLES}
    for role in ALL_ROLES:
        spec = deployments[f"shop-cskh-{role}"]["spec"]
        assert spec["replicas"] == values["roles"][role]["replicas"]
        pod = spec["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        (container,) = pod["containers"]
        assert build_parser().parse_args(container["args"]).role == [role]
        assert container["resources"] == values["roles"][role]["resources"]
        assert container["resources"]["requests"]["memory"]
        port = {p["name"]: p["containerPort"] for p in container["ports"]}["http"]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["CSKH_HTTP_PORT"] == str(port) and env["CSKH_HTTP_HOST"] == "0.0.0.0"
        assert env["CSKH_BUS"] == "kafka://kafka:9092"
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/var/lib/cskh", "/tmp"} <= mounts
        labels = spec["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= labels.items()


def test_a_disruption_budget_covers_each_role_and_only_it(manifests: list[Manifest]) -> None:
    deployments = by_kind(manifests, "Deployment")
    budgets = by_kind(manifests, "PodDisruptionBudget")
    assert set(budgets) == set(deployments)
    for name, budget in budgets.items():
        selector = budget["spec"]["selector"]["matchLabels"]
        matched = [n for n, d in deployments.items()
                   if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert matched == [name]
        assert budget["spec"]["maxUnavailable"] == 1


def test_secrets_come_from_a_secret_never_the_pod_spec(manifests: list[Manifest]) -> None:
    secrets = by_kind(manifests, "Secret")
    secret = secrets["shop-cskh"]["stringData"]
    assert secret == {"CSKH_DATABASE_URL": DB_URL, "CSKH_IMAP_PASSWORD": "mật-khẩu"}
    for deployment in by_kind(manifests, "Deployment").values():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["envFrom"] == [{"secretRef": {"name": "shop-cskh"}}]
        assert DB_URL not in yaml.safe_dump(deployment)


def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook(manifests: list[Manifest]) -> None:
    (job,) = by_kind(manifests, "Job").values()
    hooks = job["metadata"]["annotations"]
    assert set(hooks["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert build_parser().parse_args(container["args"]).command == "migrate"
    # the hook runs before the release's Secret exists: it has its own, made just before it
    secret_name = container["envFrom"][0]["secretRef"]["name"]
    secret = by_kind(manifests, "Secret")[secret_name]
    assert secret["stringData"]["CSKH_DATABASE_URL"] == DB_URL
    secret_hooks = secret["metadata"]["annotations"]
    assert secret_hooks["helm.sh/hook"] == hooks["helm.sh/hook"]
    assert int(secret_hooks["helm.sh/hook-weight"]) < int(hooks["helm.sh/hook-weight"])


def test_the_webhooks_service_reaches_the_webhooks_pods(manifests: list[Manifest]) -> None:
    (service,) = by_kind(manifests, "Service").values()
    webhooks = by_kind(manifests, "Deployment")["shop-cskh-webhooks"]
    pod_labels = webhooks["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_an_existing_secret_is_used_and_none_is_made() -> None:
    manifests = render("existingSecret=cskh-prod")
    assert not by_kind(manifests, "Secret")
    for kind in ("Deployment", "Job"):
        for m in by_kind(manifests, kind).values():
            (container,) = m["spec"]["template"]["spec"]["containers"]
            assert container["envFrom"] == [{"secretRef": {"name": "cskh-prod"}}]


def test_a_role_at_zero_replicas_is_left_out() -> None:
    manifests = render(f"secrets.CSKH_DATABASE_URL={DB_URL}", "roles.pullers.replicas=0")
    assert "shop-cskh-pullers" not in by_kind(manifests, "Deployment")
    assert "shop-cskh-pullers" not in by_kind(manifests, "PodDisruptionBudget")


@pytest.mark.parametrize(("sets", "reason"), [
    ((), "secrets.CSKH_DATABASE_URL"),
    ((f"secrets.CSKH_DATABASE_URL={DB_URL}", "roles.mailer.replicas=1"), "roles.mailer"),
])
def test_bad_values_are_refused_with_a_reason(sets: tuple[str, ...], reason: str) -> None:
    flags = [f for s in sets for f in ("--set-string" if "URL" in s else "--set", s)]
    done = helm("template", "shop", str(CHART), *flags)
    assert done.returncode != 0
    assert reason in done.stderr
