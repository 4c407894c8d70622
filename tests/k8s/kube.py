"""Small, pure helpers over rendered Kubernetes objects: selectors, pod templates, policy checks
and a NetworkPolicy evaluator. Each check returns a list of problems (empty: fine), so a test can
show every problem at once and the checks themselves can be tested on deliberately bad objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
FL5G_IMAGE = "ghcr.io/fl5g/fl5g:0.1.0"
# container name -> (service argument of `fl5g serve`, port)
FL5G_SERVICES = {"af-server": ("af", 8080), "nef-mock": ("nef", 8081), "ue-agent": ("ue", 8082)}


def key(obj: Obj) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def of_kind(objs: Iterable[Obj], *kinds: str) -> list[Obj]:
    return [o for o in objs if o["kind"] in kinds]


def by_name(objs: Iterable[Obj], kind: str, name: str) -> Obj:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def pod_template(workload: Obj) -> Obj:
    if workload["kind"] == "CronJob":
        return dict(workload["spec"]["jobTemplate"]["spec"]["template"])
    return dict(workload["spec"]["template"])


def pod_spec(workload: Obj) -> Obj:
    return dict(pod_template(workload)["spec"])


def pod_labels(workload: Obj) -> dict[str, str]:
    return pod_template(workload).get("metadata", {}).get("labels", {}) or {}


def containers(workload: Obj, *, init: bool = True) -> list[Obj]:
    spec = pod_spec(workload)
    return list(spec.get("containers", [])) + (list(spec.get("initContainers", [])) if init else [])


def selector_matches(selector: Obj | None, labels: dict[str, str]) -> bool:
    """A metav1.LabelSelector (matchLabels + matchExpressions) against a label set.

    An empty selector matches everything; a missing one (None) matches nothing."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        k, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(k) not in values:
            return False
        if op == "NotIn" and k in labels and labels[k] in values:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise ValueError(f"unknown selector operator {op}")
    return True


def service_selector_matches(selector: dict[str, str] | None, labels: dict[str, str]) -> bool:
    """A Service's plain map selector."""
    return bool(selector) and all(labels.get(k) == v for k, v in (selector or {}).items())


def workloads_selected(objs: Iterable[Obj], selector: Obj | None) -> list[Obj]:
    return [w for w in of_kind(objs, *WORKLOAD_KINDS) if selector_matches(selector, pod_labels(w))]


def container_ports(workload: Obj) -> dict[str, int]:
    """Named container ports of a workload's pods: name -> containerPort."""
    return {
        p["name"]: p["containerPort"]
        for c in containers(workload, init=False)
        for p in c.get("ports", [])
        if "name" in p
    }


# --------------------------------------------------------------------------------------------
# Pod policy (the restricted Pod Security profile plus our own rules)


def check_pod_security(workload: Obj) -> list[str]:
    problems = []
    spec = pod_spec(workload)
    psc = spec.get("securityContext") or {}
    name = key(workload)
    if psc.get("runAsNonRoot") is not True:
        problems.append(f"{name}: pod securityContext.runAsNonRoot is not true")
    if psc.get("runAsUser") != 10001:
        problems.append(f"{name}: pod securityContext.runAsUser is {psc.get('runAsUser')!r}, not 10001")
    if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problems.append(f"{name}: pod seccompProfile is not RuntimeDefault")
    if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
        problems.append(f"{name}: uses host namespaces")
    if spec.get("automountServiceAccountToken") is not False:
        problems.append(f"{name}: automountServiceAccountToken is not false (no fl5g pod talks to the API)")
    for c in containers(workload):
        csc = c.get("securityContext") or {}
        where = f"{name} container {c['name']}"
        if csc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation is not false")
        if csc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}: readOnlyRootFilesystem is not true")
        if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
            problems.append(f"{where}: capabilities.drop lacks ALL")
        if (csc.get("capabilities") or {}).get("add"):
            problems.append(f"{where}: adds capabilities")
        if csc.get("privileged"):
            problems.append(f"{where}: privileged")
        if csc.get("runAsNonRoot") is False or csc.get("runAsUser") == 0:
            problems.append(f"{where}: runs as root")
        mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
        if "/tmp" not in mounts:
            problems.append(f"{where}: no writable /tmp (the root filesystem is read-only)")
    return problems


def check_resources(workload: Obj) -> list[str]:
    problems = []
    for c in containers(workload):
        res = c.get("resources") or {}
        where = f"{key(workload)} container {c['name']}"
        for part in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in (res.get(part) or {}):
                    problems.append(f"{where}: no {part}.{r}")
        for r in ("cpu", "memory"):
            req, lim = (res.get("requests") or {}).get(r), (res.get("limits") or {}).get(r)
            if req is not None and lim is not None and quantity(req) > quantity(lim):
                problems.append(f"{where}: requests.{r} {req} > limits.{r} {lim}")
    return problems


_SUFFIX = {
    "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40,
}


def quantity(q: str | int | float) -> float:
    """A Kubernetes resource quantity ("500m", "2", "1Gi") as a float."""
    if isinstance(q, int | float):
        return float(q)
    for suffix in sorted(_SUFFIX, key=len, reverse=True):
        if suffix and q.endswith(suffix):
            return float(q[: -len(suffix)]) * _SUFFIX[suffix]
    return float(q)


def check_probes(workload: Obj) -> list[str]:
    problems = []
    ports = container_ports(workload)
    for c in containers(workload, init=False):
        where = f"{key(workload)} container {c['name']}"
        for probe in ("readinessProbe", "livenessProbe"):
            if probe not in c:
                problems.append(f"{where}: no {probe}")
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            http = (c.get(probe) or {}).get("httpGet")
            if http and isinstance(http["port"], str) and http["port"] not in ports:
                problems.append(f"{where}: {probe} uses port {http['port']!r}, not a named container port")
        if c.get("image", "").startswith("ghcr.io/fl5g/"):
            # The fl5g services: liveness is /livez (process only), readiness /readyz.
            live = ((c.get("livenessProbe") or {}).get("httpGet") or {}).get("path")
            ready = ((c.get("readinessProbe") or {}).get("httpGet") or {}).get("path")
            if live != "/livez":
                problems.append(f"{where}: livenessProbe path is {live!r}, not /livez")
            if ready != "/readyz":
                problems.append(f"{where}: readinessProbe path is {ready!r}, not /readyz")
    return problems


def check_image(workload: Obj) -> list[str]:
    problems = []
    for c in containers(workload):
        image = c.get("image", "")
        where = f"{key(workload)} container {c['name']}"
        name, _, tag = image.rpartition(":") if "@" not in image else (image, "", "digest")
        if not tag or "/" in tag or not name:
            problems.append(f"{where}: image {image!r} has no tag")
        elif tag == "latest":
            problems.append(f"{where}: image {image!r} uses :latest")
        if c["name"] in FL5G_SERVICES and image != FL5G_IMAGE:
            problems.append(f"{where}: image {image!r}, expected {FL5G_IMAGE}")
    return problems


def check_fl5g_command(workload: Obj) -> list[str]:
    """fl5g containers run `fl5g serve <svc> --host 0.0.0.0 --port <their containerPort>`."""
    problems = []
    for c in containers(workload, init=False):
        if c["name"] not in FL5G_SERVICES:
            continue
        svc, port = FL5G_SERVICES[c["name"]]
        where = f"{key(workload)} container {c['name']}"
        argv = list(c.get("command", [])) + list(c.get("args", []))
        if argv[:3] != ["fl5g", "serve", svc]:
            problems.append(f"{where}: runs {argv[:3]}, not fl5g serve {svc}")
        if _option(argv, "--host") != "0.0.0.0":
            problems.append(f"{where}: --host is {_option(argv, '--host')!r}, not 0.0.0.0")
        if _option(argv, "--port") != str(port):
            problems.append(f"{where}: --port is {_option(argv, '--port')!r}, not {port}")
        if port not in [p["containerPort"] for p in c.get("ports", [])]:
            problems.append(f"{where}: containerPort {port} not declared")
    return problems


def _option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv and argv.index(name) + 1 < len(argv) else None


# --------------------------------------------------------------------------------------------
# References


def config_refs(workload: Obj) -> Iterator[tuple[str, str, str | None]]:
    """(kind, name, key or None) of every ConfigMap/Secret a workload's pods use."""
    spec = pod_spec(workload)
    for c in containers(workload):
        for src in c.get("envFrom", []):
            if "configMapRef" in src:
                yield "ConfigMap", src["configMapRef"]["name"], None
            if "secretRef" in src:
                yield "Secret", src["secretRef"]["name"], None
        for env in c.get("env", []):
            ref = env.get("valueFrom") or {}
            if "configMapKeyRef" in ref:
                yield "ConfigMap", ref["configMapKeyRef"]["name"], ref["configMapKeyRef"]["key"]
            if "secretKeyRef" in ref:
                yield "Secret", ref["secretKeyRef"]["name"], ref["secretKeyRef"]["key"]
    for vol in spec.get("volumes", []):
        if "configMap" in vol:
            yield "ConfigMap", vol["configMap"]["name"], None
        if "secret" in vol:
            yield "Secret", vol["secret"]["secretName"], None
    for ips in spec.get("imagePullSecrets", []):
        yield "Secret", ips["name"], None


def data_keys(obj: Obj) -> set[str]:
    return set(obj.get("data") or {}) | set(obj.get("stringData") or {}) | set(obj.get("binaryData") or {})


def container_env(workload: Obj, container: Obj, objs: list[Obj]) -> dict[str, str]:
    """The plain environment a container gets from ConfigMaps (envFrom) and literal env values."""
    env: dict[str, str] = {}
    configmaps = {o["metadata"]["name"]: o for o in of_kind(objs, "ConfigMap")}
    for src in container.get("envFrom", []):
        if "configMapRef" in src and src["configMapRef"]["name"] in configmaps:
            env.update(configmaps[src["configMapRef"]["name"]].get("data") or {})
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
    return env


# --------------------------------------------------------------------------------------------
# NetworkPolicy evaluation (same namespace; pods identified by their labels)


@dataclass(frozen=True)
class Peer:
    """A traffic endpoint: pod labels, and namespace labels when it is outside our namespace."""

    labels: tuple[tuple[str, str], ...]
    namespace_labels: tuple[tuple[str, str], ...] | None = None

    @classmethod
    def pod(cls, labels: dict[str, str]) -> Peer:
        return cls(tuple(sorted(labels.items())))

    @classmethod
    def other_namespace(cls, ns_labels: dict[str, str], labels: dict[str, str] | None = None) -> Peer:
        return cls(tuple(sorted((labels or {}).items())), tuple(sorted(ns_labels.items())))


def _peer_matches(rule_peer: Obj, peer: Peer) -> bool:
    if "ipBlock" in rule_peer:
        return False  # no fl5g flow is meant to go by IP
    labels = dict(peer.labels)
    if "namespaceSelector" in rule_peer:
        if peer.namespace_labels is None:
            # our own namespace: it carries kubernetes.io/metadata.name=<ns>, which the policies
            # here never select, so a namespaceSelector only ever admits other namespaces.
            return False
        if not selector_matches(rule_peer["namespaceSelector"], dict(peer.namespace_labels)):
            return False
        return selector_matches(rule_peer.get("podSelector", {}), labels)
    if peer.namespace_labels is not None:
        return False  # a bare podSelector means pods of the policy's own namespace
    return selector_matches(rule_peer.get("podSelector"), labels)


def _port_matches(rule_ports: list[Obj] | None, port: int, named: dict[str, int]) -> bool:
    if not rule_ports:
        return True
    for rp in rule_ports:
        if rp.get("protocol", "TCP") != "TCP":
            continue
        p = rp.get("port")
        if p is None or p == port or (isinstance(p, str) and named.get(p) == port):
            return True
    return False


def _rules_allow(rules: list[Obj], peer: Peer, port: int, named: dict[str, int], side: str) -> bool:
    for rule in rules:
        peers = rule.get(side)
        if (peers is None or any(_peer_matches(p, peer) for p in peers)) and _port_matches(
            rule.get("ports"), port, named
        ):
            return True
    return False


def _selected(policies: list[Obj], labels: dict[str, str], ptype: str) -> list[Obj]:
    return [
        p for p in policies
        if selector_matches(p["spec"].get("podSelector", {}), labels)
        and ptype in p["spec"].get("policyTypes", ["Ingress"])
    ]


def flow_allowed(policies: list[Obj], src: Peer, dst: Obj, port: int) -> bool:
    """TCP from `src` to pods of workload `dst` on `port`, as the NetworkPolicies decide it.

    Ingress at dst and (for a source in our namespace) egress at src must both allow it; a pod
    not selected by any policy of a direction is open in that direction."""
    dst_labels = pod_labels(dst)
    named = container_ports(dst)
    ingress = _selected(policies, dst_labels, "Ingress")
    if ingress and not any(
        _rules_allow(p["spec"].get("ingress", []), src, port, named, "from") for p in ingress
    ):
        return False
    if src.namespace_labels is None:
        egress = _selected(policies, dict(src.labels), "Egress")
        dst_peer = Peer.pod(dst_labels)
        if egress and not any(
            _rules_allow(p["spec"].get("egress", []), dst_peer, port, named, "to") for p in egress
        ):
            return False
    return True
