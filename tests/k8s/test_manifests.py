"""The kustomize base and overlays: they render, validate against the Kubernetes schemas (strict),
and every workload, Service, PDB, NetworkPolicy and monitor follows the fl5g policy."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError

from tests.k8s import kube
from tests.k8s.conftest import CRD_SCHEMAS, DASHBOARD_FILE, PROD_EXTERNAL_SECRETS, TARGETS

K8S_VERSION = "1.30.0"
# Custom resources: kubernetes-validate has no schema for them; crd_schemas/ has ours.
CRD_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-monitoring-v1.json",
    ("monitoring.coreos.com/v1", "PodMonitor"): "podmonitor-monitoring-v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule-monitoring-v1.json",
}
MONITORING_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}

pytestmark = pytest.mark.usefixtures("rendered")


def _crd_validator(filename: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((CRD_SCHEMAS / filename).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def validate(obj: dict[str, Any]) -> list[str]:
    """Problems of one object: kubernetes-validate --strict, or our CRD schema for a CR."""
    crd = CRD_KINDS.get((obj["apiVersion"], obj["kind"]))
    if crd:
        return [
            f"{kube.key(obj)}: {'.'.join(map(str, e.path))}: {e.message}"
            for e in _crd_validator(crd).iter_errors(obj)
        ]
    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        return [f"{kube.key(obj)}: {'.'.join(map(str, e.path))}: {e.message}"]
    except SchemaNotFoundError as e:
        return [f"{kube.key(obj)}: no schema ({e.message}); add one to crd_schemas/ or drop the kind"]
    return []


# ---------------------------------------------------------------------------------------------
# Rendering and schemas


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_renders_with_the_expected_kinds(rendered, target):
    kinds = {o["kind"] for o in rendered[target]}
    assert {"Deployment", "StatefulSet", "Service", "PodDisruptionBudget", "NetworkPolicy",
            "ConfigMap", "ServiceAccount"} <= kinds
    names = {kube.key(o) for o in rendered[target]}
    assert {"Deployment/af-server", "Deployment/nef-mock", "Deployment/ue-agent",
            "StatefulSet/redis", "Service/redis", "Service/af-server", "Service/nef-mock"} <= names
    assert len(names) == len(rendered[target]), "two objects share a kind and name"


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_every_object_validates_strictly(rendered, target):
    problems = [p for obj in rendered[target] for p in validate(obj)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_kubernetes_validate_cli(rendered, target, tmp_path):
    """The same check through the command line a developer would type."""
    objs = [o for o in rendered[target] if (o["apiVersion"], o["kind"]) not in CRD_KINDS]
    path = tmp_path / f"{target}.yaml"
    path.write_text(yaml.safe_dump_all(objs))
    proc = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", K8S_VERSION, "--quiet", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ERROR" not in proc.stdout and "WARN" not in proc.stdout, proc.stdout


def test_validation_catches_bad_objects(rendered):
    deployment = copy.deepcopy(kube.by_name(rendered["dev"], "Deployment", "af-server"))
    deployment["spec"]["replicas"] = "two"
    deployment["spec"]["template"]["spec"]["containers"][0]["bogusField"] = True
    assert len(validate(deployment)) == 1  # the first error is reported
    monitor = copy.deepcopy(kube.by_name(rendered["prod"], "ServiceMonitor", "nef-mock"))
    monitor["spec"]["endpoints"][0]["intervall"] = "15s"
    monitor["spec"]["endpoints"][0]["interval"] = "15 seconds"
    assert len(validate(monitor)) == 2
    rule = copy.deepcopy(kube.by_name(rendered["prod"], "PrometheusRule", "fl5g"))
    rule["spec"]["groups"][0]["rules"][0]["alert"] = "Both"
    assert validate(rule)
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert validate(unknown)


def test_monitoring_only_in_prod(rendered):
    for target in ("base", "dev"):
        assert not [o for o in rendered[target] if o["kind"] in MONITORING_KINDS], target
    prod_kinds = {o["kind"] for o in rendered["prod"]}
    assert MONITORING_KINDS <= prod_kinds


# ---------------------------------------------------------------------------------------------
# Workload policy


def _workloads(rendered: dict[str, list[dict[str, Any]]], target: str) -> list[dict[str, Any]]:
    return kube.of_kind(rendered[target], *kube.WORKLOAD_KINDS)


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize(
    "check",
    [kube.check_pod_security, kube.check_resources, kube.check_probes, kube.check_image,
     kube.check_fl5g_command],
    ids=lambda f: f.__name__,
)
def test_workload_policy(rendered, target, check):
    workloads = _workloads(rendered, target)
    assert len(workloads) == 4
    problems = [p for w in workloads for p in check(w)]
    assert not problems, "\n".join(problems)


def _break(workload: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    w = copy.deepcopy(workload)
    node = w
    for part in path[:-1]:
        node = node[part]
    if value is None:
        node.pop(path[-1])
    else:
        node[path[-1]] = value
    return w


C0 = ["spec", "template", "spec", "containers", 0]


@pytest.mark.parametrize(
    ("check", "path", "value", "expected"),
    [
        (kube.check_pod_security, ["spec", "template", "spec", "securityContext", "runAsNonRoot"], None,
         "runAsNonRoot"),
        (kube.check_pod_security, [*C0, "securityContext", "readOnlyRootFilesystem"], False,
         "readOnlyRootFilesystem"),
        (kube.check_pod_security, [*C0, "securityContext", "capabilities"], {"drop": ["NET_RAW"]}, "ALL"),
        (kube.check_pod_security, [*C0, "volumeMounts"], [], "/tmp"),
        (kube.check_resources, [*C0, "resources", "limits"], {"memory": "1Gi"}, "limits.cpu"),
        (kube.check_resources, [*C0, "resources", "requests", "memory"], "64Gi", "requests.memory"),
        (kube.check_probes, [*C0, "readinessProbe"], None, "no readinessProbe"),
        (kube.check_probes, [*C0, "livenessProbe", "httpGet", "path"], "/readyz", "/livez"),
        (kube.check_probes, [*C0, "livenessProbe", "httpGet", "port"], "metrics", "named container port"),
        (kube.check_image, [*C0, "image"], "ghcr.io/fl5g/fl5g:latest", ":latest"),
        (kube.check_image, [*C0, "image"], "ghcr.io/fl5g/fl5g", "no tag"),
        (kube.check_fl5g_command, [*C0, "args"], ["serve", "af", "--port", "8080"], "--host"),
        (kube.check_fl5g_command, [*C0, "args"], ["serve", "nef", "--host", "0.0.0.0", "--port", "8080"],
         "not fl5g serve af"),
    ],
)
def test_policy_checks_catch_violations(rendered, check, path, value, expected):
    good = kube.by_name(rendered["dev"], "Deployment", "af-server")
    assert check(good) == []
    problems = check(_break(good, path, value))
    assert any(expected in p for p in problems), problems


def test_writable_paths_are_mounted(rendered):
    """HOME, TMPDIR, caches and the AF's state dir lie on a volume: the root filesystem is read-only."""
    problems = []
    for target in TARGETS:
        objs = rendered[target]
        for w in _workloads(rendered, target):
            for c in kube.containers(w):
                env = kube.container_env(w, c, objs)
                mounts = [m["mountPath"].rstrip("/") for m in c.get("volumeMounts", [])]
                for var in ("HOME", "TMPDIR", "MPLCONFIGDIR", "TORCH_HOME", "AF_STATE_DIR"):
                    path = env.get(var)
                    if path and not any(path == m or path.startswith(m + "/") for m in mounts):
                        problems.append(
                            f"{target} {kube.key(w)}/{c['name']}: {var}={path} is not on a volume"
                        )
    assert not problems, "\n".join(problems)
    af = kube.by_name(rendered["prod"], "Deployment", "af-server")
    af_env = kube.container_env(af, kube.containers(af)[0], rendered["prod"])
    assert af_env["AF_STATE_DIR"] == "/var/lib/fl5g/af"
    volumes = {v["name"]: v for v in kube.pod_spec(af)["volumes"]}
    state = next(m for m in kube.containers(af)[0]["volumeMounts"] if m["mountPath"] == "/var/lib/fl5g/af")
    # prod: both replicas share their checkpoints (a standby on another node takes over the model)
    assert volumes[state["name"]]["persistentVolumeClaim"]["claimName"] == "af-checkpoints"
    claim = kube.by_name(rendered["prod"], "PersistentVolumeClaim", "af-checkpoints")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    dev = kube.by_name(rendered["dev"], "Deployment", "af-server")
    assert "emptyDir" in {v["name"]: v for v in kube.pod_spec(dev)["volumes"]}["state"]


def test_af_has_a_startup_probe(rendered):
    for target in TARGETS:
        af = kube.by_name(rendered[target], "Deployment", "af-server")
        probe = kube.containers(af)[0].get("startupProbe") or {}
        assert probe.get("httpGet", {}).get("path") == "/livez", target


def test_ue_agent_runs_a_fleet(rendered):
    ue = kube.by_name(rendered["dev"], "Deployment", "ue-agent")
    c = kube.containers(ue)[0]
    argv = c["command"] + c["args"]
    assert argv[argv.index("--count") + 1] == "$(UE_COUNT)"
    # the kubelet expands $(UE_COUNT) only from the container's env list
    env_names = [e["name"] for e in c.get("env", [])]
    assert "UE_COUNT" in env_names
    assert kube.container_env(ue, c, rendered["dev"])["UE_COUNT"].isdigit()


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_ue_training_threads_follow_the_cpu_limit(rendered, target):
    """Left at 0 the agent would start one training thread per node core, not per CPU of its limit."""
    ue = kube.by_name(rendered[target], "Deployment", "ue-agent")
    c = kube.containers(ue)[0]
    workers = int(kube.container_env(ue, c, rendered[target])["UE_TRAIN_WORKERS"])
    assert workers == math.ceil(kube.quantity(c["resources"]["limits"]["cpu"]))


def test_overlay_settings(rendered):
    def af_env(target: str) -> dict[str, str]:
        af = kube.by_name(rendered[target], "Deployment", "af-server")
        return kube.container_env(af, kube.containers(af)[0], rendered[target])

    def nef_env(target: str) -> dict[str, str]:
        nef = kube.by_name(rendered[target], "Deployment", "nef-mock")
        return kube.container_env(nef, kube.containers(nef)[0], rendered[target])

    assert af_env("dev")["AF_DEV_MODE"] == "true"
    assert nef_env("dev")["NEF_AUTH_DISABLED"] == "false"
    assert af_env("prod")["AF_DEV_MODE"] == "false"
    assert nef_env("prod")["NEF_AUTH_DISABLED"] == "false"
    assert "NEF_DEV_MODE" not in nef_env("prod")
    replicas = {t: kube.by_name(rendered[t], "Deployment", "af-server")["spec"]["replicas"] for t in TARGETS}
    assert replicas == {"base": 2, "dev": 1, "prod": 2}
    cpu = {
        t: kube.quantity(kube.containers(kube.by_name(rendered[t], "Deployment", "af-server"))[0]
                         ["resources"]["limits"]["cpu"])
        for t in TARGETS
    }
    assert cpu["dev"] < cpu["base"] < cpu["prod"]
    namespaces = {t: {o["metadata"].get("namespace") for o in rendered[t] if o["kind"] != "Namespace"}
                  for t in ("dev", "prod")}
    assert namespaces == {"dev": {"fl5g-dev"}, "prod": {"fl5g"}}
    for t in ("dev", "prod"):
        ns = next(o for o in rendered[t] if o["kind"] == "Namespace")
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_prod_spreads_the_af_replicas(rendered):
    spec = kube.pod_spec(kube.by_name(rendered["prod"], "Deployment", "af-server"))
    anti = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    af_labels = kube.pod_labels(kube.by_name(rendered["prod"], "Deployment", "af-server"))
    assert any(
        t["topologyKey"] == "kubernetes.io/hostname" and kube.selector_matches(t["labelSelector"], af_labels)
        for t in anti
    )
    spread = spec["topologySpreadConstraints"]
    assert any(kube.selector_matches(s["labelSelector"], af_labels) for s in spread)
    # two replicas on distinct nodes must be able to roll: never a third pod (maxSurge 0)
    strategy = kube.by_name(rendered["prod"], "Deployment", "af-server")["spec"]["strategy"]
    assert strategy["rollingUpdate"]["maxSurge"] == 0


# ---------------------------------------------------------------------------------------------
# Selectors and references


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_workload_selectors_match_their_templates(rendered, target):
    for w in _workloads(rendered, target):
        assert kube.selector_matches(w["spec"]["selector"], kube.pod_labels(w)), kube.key(w)
        assert set(w["spec"]["selector"]["matchLabels"]) == {
            "app.kubernetes.io/name", "app.kubernetes.io/instance"}, kube.key(w)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_selectors_match_pods(rendered, target):
    objs = rendered[target]
    problems = []
    for svc in kube.of_kind(objs, "Service"):
        selected = [w for w in kube.of_kind(objs, *kube.WORKLOAD_KINDS)
                    if kube.service_selector_matches(svc["spec"].get("selector"), kube.pod_labels(w))]
        if len(selected) != 1:
            problems.append(f"{kube.key(svc)} selects {len(selected)} workloads")
            continue
        ports = kube.container_ports(selected[0])
        for p in svc["spec"]["ports"]:
            tp = p.get("targetPort", p["port"])
            if isinstance(tp, str) and tp not in ports:
                problems.append(f"{kube.key(svc)}: targetPort {tp!r} is not a container port")
            if isinstance(tp, int) and tp not in ports.values():
                problems.append(f"{kube.key(svc)}: targetPort {tp} is not a container port")
    for pdb in kube.of_kind(objs, "PodDisruptionBudget"):
        if len(kube.workloads_selected(objs, pdb["spec"]["selector"])) != 1:
            problems.append(f"{kube.key(pdb)} does not select exactly one workload")
    for np in kube.of_kind(objs, "NetworkPolicy"):
        if not kube.workloads_selected(objs, np["spec"]["podSelector"]):
            problems.append(f"{kube.key(np)}: podSelector matches no pods")
        for rule in np["spec"].get("ingress", []) + np["spec"].get("egress", []):
            for peer in rule.get("from", []) + rule.get("to", []):
                if "podSelector" in peer and "namespaceSelector" not in peer and not kube.workloads_selected(
                    objs, peer["podSelector"]
                ):
                    problems.append(f"{kube.key(np)}: peer {peer['podSelector']} matches no pods")
    assert not problems, "\n".join(problems)


def test_monitors_select_their_targets(rendered):
    objs = rendered["prod"]
    problems = []
    for sm in kube.of_kind(objs, "ServiceMonitor"):
        services = [s for s in kube.of_kind(objs, "Service")
                    if kube.selector_matches(sm["spec"]["selector"], s["metadata"].get("labels", {}))]
        if len(services) != 1:
            problems.append(f"{kube.key(sm)} selects {len(services)} Services")
            continue
        names = {p.get("name") for p in services[0]["spec"]["ports"]}
        problems += [f"{kube.key(sm)}: port {e['port']!r} not on {kube.key(services[0])}"
                     for e in sm["spec"]["endpoints"] if e["port"] not in names]
        job = services[0]["metadata"]["labels"].get(sm["spec"]["jobLabel"])
        if job != sm["metadata"]["name"]:
            problems.append(f"{kube.key(sm)}: job label would be {job!r}")
    for pm in kube.of_kind(objs, "PodMonitor"):
        workloads = kube.workloads_selected(objs, pm["spec"]["selector"])
        if len(workloads) != 1:
            problems.append(f"{kube.key(pm)} selects {len(workloads)} workloads")
            continue
        ports = kube.container_ports(workloads[0])
        problems += [f"{kube.key(pm)}: port {e['port']!r} not a container port"
                     for e in pm["spec"]["podMetricsEndpoints"] if e["port"] not in ports]
        job = kube.pod_labels(workloads[0]).get(pm["spec"]["jobLabel"])
        if job != pm["metadata"]["name"]:
            problems.append(f"{kube.key(pm)}: job label would be {job!r}")
    # The rules' absent() alerts name these jobs.
    jobs = {m["metadata"]["name"] for m in kube.of_kind(objs, "ServiceMonitor", "PodMonitor")}
    assert jobs == {"af-server", "nef-mock", "ue-agent"}
    assert not problems, "\n".join(problems)


def test_af_is_scraped_as_pods(rendered):
    """The standby AF is not ready, hence not a Service endpoint: only a PodMonitor reaches it."""
    kinds = {m["kind"] for m in kube.of_kind(rendered["prod"], "ServiceMonitor", "PodMonitor")
             if m["metadata"]["name"] == "af-server"}
    assert kinds == {"PodMonitor"}


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_references_resolve(rendered, target):
    objs = rendered[target]
    present = {(o["kind"], o["metadata"]["name"]): o for o in objs if o["kind"] in ("ConfigMap", "Secret")}
    external = PROD_EXTERNAL_SECRETS if target in ("base", "prod") else frozenset()
    problems = []
    used_external = set()
    for w in _workloads(rendered, target):
        for kind, name, k in kube.config_refs(w):
            if kind == "Secret" and name in external:
                used_external.add(name)
                continue
            obj = present.get((kind, name))
            if obj is None:
                problems.append(f"{kube.key(w)}: {kind}/{name} does not exist")
            elif k is not None and k not in kube.data_keys(obj):
                problems.append(f"{kube.key(w)}: {kind}/{name} has no key {k!r}")
        sa = kube.pod_spec(w).get("serviceAccountName")
        if sa and ("ServiceAccount", sa) not in {(o["kind"], o["metadata"]["name"]) for o in objs}:
            problems.append(f"{kube.key(w)}: ServiceAccount/{sa} does not exist")
    assert not problems, "\n".join(problems)
    assert used_external == external, "the external-secret list and the references disagree"


def test_secrets_only_in_dev(rendered):
    """Secret values exist only in the dev overlay, which generates every Secret prod expects."""
    for target in ("base", "prod"):
        assert not kube.of_kind(rendered[target], "Secret"), target
    dev = {o["metadata"]["name"].rsplit("-", 1)[0]: o for o in kube.of_kind(rendered["dev"], "Secret")}
    assert set(dev) == PROD_EXTERNAL_SECRETS
    # the references were rewritten to the hashed names
    af = kube.by_name(rendered["dev"], "Deployment", "af-server")
    refs = {name for kind, name, _ in kube.config_refs(af) if kind == "Secret"}
    assert refs and all(r not in PROD_EXTERNAL_SECRETS for r in refs)


def test_dev_secrets_agree_across_services(rendered):
    """The AF's NEF client secret is the one the NEF knows; the UE's enrollment key is one the AF takes."""
    import base64

    def secret(prefix: str) -> dict[str, str]:
        secrets = kube.of_kind(rendered["dev"], "Secret")
        obj = next(o for o in secrets if o["metadata"]["name"].startswith(prefix))
        return {k: base64.b64decode(v).decode() for k, v in obj["data"].items()}

    af, nef, ue = secret("fl5g-af-secrets"), secret("fl5g-nef-secrets"), secret("fl5g-ue-secrets")
    clients = json.loads(nef["NEF_CLIENTS"])
    af_cfg = kube.by_name(rendered["dev"], "Deployment", "af-server")
    af_env = kube.container_env(af_cfg, kube.containers(af_cfg)[0], rendered["dev"])
    assert clients[af_env["AF_NEF_CLIENT_ID"]]["secret"] == af["AF_NEF_CLIENT_SECRET"]
    assert len(nef["NEF_TOKEN_SECRET"]) >= 32  # the NEF refuses shorter ones outside dev mode
    assert ue["UE_ENROLLMENT_KEY"] in json.loads(af["AF_UE_ENROLLMENT_KEYS"])


def test_dashboard_configmap(rendered):
    cm = kube.by_name(rendered["prod"], "ConfigMap", "fl5g-grafana-dashboards")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["fl5g.json"]) == json.loads(DASHBOARD_FILE.read_text())


# ---------------------------------------------------------------------------------------------
# Disruption budgets


def test_pdbs(rendered):
    for target in TARGETS:
        objs = rendered[target]
        covered = set()
        for pdb in kube.of_kind(objs, "PodDisruptionBudget"):
            (w,) = kube.workloads_selected(objs, pdb["spec"]["selector"])
            covered.add(w["metadata"]["name"])
            # minAvailable on a single replica would block every drain
            assert "minAvailable" not in pdb["spec"], kube.key(pdb)
            assert pdb["spec"]["maxUnavailable"] == 1, kube.key(pdb)
        assert {"af-server", "nef-mock"} <= covered, target
        af_pdb = kube.by_name(objs, "PodDisruptionBudget", "af-server")
        # the standby is never ready; without AlwaysAllow it could not be evicted either
        assert af_pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


# ---------------------------------------------------------------------------------------------
# NetworkPolicies: the flows the services use are open, everything else is closed

MONITORING_NS = {"kubernetes.io/metadata.name": "monitoring"}
OTHER_NS = {"kubernetes.io/metadata.name": "default"}

ALLOWED = {
    ("ue-agent", "af-server", 8080),   # FL API
    ("nef-mock", "af-server", 8080),   # 3GPP notifications to the AF's callback URIs
    ("af-server", "nef-mock", 8081),   # northbound APIs
    ("ue-agent", "nef-mock", 8081),    # emulator API
    ("af-server", "redis", 6379),
}
PORTS = {"af-server": 8080, "nef-mock": 8081, "ue-agent": 8082, "redis": 6379}


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_network_flows(rendered, target):
    objs = rendered[target]
    policies = kube.of_kind(objs, "NetworkPolicy")
    workloads = {w["metadata"]["name"]: w for w in _workloads(rendered, target)}
    got = set()
    for src_name, src in workloads.items():
        for dst_name, dst in workloads.items():
            for port in set(PORTS.values()):
                if kube.flow_allowed(policies, kube.Peer.pod(kube.pod_labels(src)), dst, port):
                    got.add((src_name, dst_name, port))
    assert got == ALLOWED
    for name, dst in workloads.items():
        scraped = kube.flow_allowed(policies, kube.Peer.other_namespace(MONITORING_NS), dst, PORTS[name])
        assert scraped == (name != "redis"), name
        assert not kube.flow_allowed(policies, kube.Peer.other_namespace(OTHER_NS), dst, PORTS[name]), name


def test_default_deny_and_dns(rendered):
    policies = kube.of_kind(rendered["prod"], "NetworkPolicy")
    deny = kube.by_name(policies, "NetworkPolicy", "default-deny")
    assert deny["spec"]["podSelector"] == {}
    assert set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]
    dns = kube.by_name(policies, "NetworkPolicy", "allow-dns-egress")
    ports = {(p["protocol"], p["port"]) for rule in dns["spec"]["egress"] for p in rule["ports"]}
    assert ports == {("UDP", 53), ("TCP", 53)}
    for w in _workloads(rendered, "prod"):
        assert kube.selector_matches(dns["spec"]["podSelector"], kube.pod_labels(w)), kube.key(w)


def test_flow_evaluator_sees_a_missing_policy(rendered):
    """Without the redis policy, the default deny must close af -> redis as well."""
    objs = rendered["prod"]
    policies = [p for p in kube.of_kind(objs, "NetworkPolicy") if p["metadata"]["name"] != "redis"]
    af = kube.pod_labels(kube.by_name(objs, "Deployment", "af-server"))
    redis = kube.by_name(objs, "StatefulSet", "redis")
    assert not kube.flow_allowed(policies, kube.Peer.pod(af), redis, 6379)
    # and with no policies at all, everything is open
    assert kube.flow_allowed([], kube.Peer.pod(af), redis, 6379)
