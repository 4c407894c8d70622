"""Fixtures for the offline checks of k8s/, the Prometheus rules, the dashboard and the Dockerfile.

Tools: `kubectl` (renders with its embedded kustomize, offline; it ships on the dev image and in
CI) and `promtool` (Debian's `prometheus` package, which `make system-deps` installs). A test that
needs one of them is skipped, saying which, only when it is not on PATH; everything else runs.
`kubectl apply --dry-run` is not used: it needs an API server even with --dry-run=client.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
MONITORING = K8S / "components" / "monitoring"
RULES_FILE = MONITORING / "rules" / "fl5g-rules.yaml"
RULES_TEST_FILE = MONITORING / "rules" / "fl5g-rules_test.yaml"
PROMETHEUSRULE_FILE = MONITORING / "prometheusrule.yaml"
DASHBOARD_FILE = MONITORING / "dashboards" / "fl5g.json"
RUNBOOKS_FILE = MONITORING / "runbooks.md"
INTERFACES_DOC = REPO / "docs" / "interfaces.md"
CRD_SCHEMAS = Path(__file__).resolve().parent / "crd_schemas"

# Every kustomization that must render; the overlays are what gets applied.
TARGETS = {
    "base": K8S / "base",
    "dev": K8S / "overlays" / "dev",
    "prod": K8S / "overlays" / "prod",
}

# Secrets that the base and prod reference but do not generate: prod expects them created in the
# namespace out of band (see k8s/overlays/prod/kustomization.yaml); dev generates all of them.
PROD_EXTERNAL_SECRETS = frozenset(
    {"fl5g-af-secrets", "fl5g-nef-secrets", "fl5g-ue-secrets", "fl5g-redis-auth"}
)

KUBECTL = shutil.which("kubectl")
PROMTOOL = shutil.which("promtool")

needs_kubectl = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl not on PATH (it renders the kustomizations offline)"
)
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not on PATH: install Debian's `prometheus` package (make system-deps)"
)


def render(path: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize <path>` as a list of objects; fails the test with kustomize's message."""
    assert KUBECTL is not None
    proc = subprocess.run(
        [KUBECTL, "kustomize", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, f"kubectl kustomize {path} failed:\n{proc.stderr}"
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Every target rendered once per session (kubectl takes ~0.1 s per render)."""
    if KUBECTL is None:
        pytest.skip("kubectl not on PATH (it renders the kustomizations offline)")
    return {name: render(path) for name, path in TARGETS.items()}


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, timeout=60, check=False, cwd=cwd
    )


@pytest.fixture(scope="session")
def rules() -> dict[str, Any]:
    return dict(yaml.safe_load(RULES_FILE.read_text()))


@pytest.fixture(scope="session")
def rules_tests() -> dict[str, Any]:
    return dict(yaml.safe_load(RULES_TEST_FILE.read_text()))


@pytest.fixture(scope="session")
def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD_FILE.read_text()))


def all_rules(rules_doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for group in rules_doc["groups"] for rule in group["rules"]]
