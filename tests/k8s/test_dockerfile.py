"""Static checks of the Dockerfile and .dockerignore (no Docker engine runs here to build it)."""

from __future__ import annotations

import re
import tomllib

from tests.k8s.conftest import REPO

DOCKERFILE = REPO / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in instructions():
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def test_two_stages_on_pinned_python_slim():
    args = dict(a.split("=", 1) for w, a in instructions() if w == "ARG" and "=" in a)
    base = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11-slim(-[a-z]+)?", base), base
    froms = [s[0][1] for s in stages()]
    assert froms == ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE} AS runtime"]


def test_torch_is_the_cpu_build_of_the_pinned_version():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    (torch_pin,) = [d for d in pyproject["project"]["dependencies"] if d.startswith("torch")]
    builder = " ".join(a for w, a in stages()[0] if w == "RUN")
    assert f"pip install {torch_pin} --index-url https://download.pytorch.org/whl/cpu" in builder
    # torch before the project, so the project's own torch pin is already satisfied
    assert builder.index(torch_pin) < builder.index("pip install .")


def test_runtime_is_non_root_and_runs_fl5g():
    runtime = stages()[-1]
    users = [a for w, a in runtime if w == "USER"]
    assert users and users[-1].split(":")[0] == "10001"
    assert ("ENTRYPOINT", '["fl5g"]') in runtime
    cmd = [a for w, a in runtime if w == "CMD"]
    assert cmd and cmd[-1].startswith('["serve", "af"')
    exposed = {int(p) for w, a in runtime if w == "EXPOSE" for p in a.split()}
    assert exposed == {8080, 8081, 8082}
    assert any(w == "COPY" and a.startswith("--from=builder /opt/venv") for w, a in runtime)
    assert not any(w == "HEALTHCHECK" for w, _ in runtime)  # Kubernetes probes instead


def test_dockerignore_keeps_the_context_small():
    lines = [
        ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert lines[0] == "*", "allow-list: exclude everything, then re-include"
    included = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    # every source a COPY takes from the build context (all arguments but the destination)
    copied = {
        src.rstrip("/")
        for w, a in instructions()
        if w == "COPY" and not a.startswith("--from")
        for src in a.split()[:-1]
    }
    assert copied and copied <= included, copied - included
    assert not included & {".git", ".venv", "tests", "k8s", "var", "out"}
