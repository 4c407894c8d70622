"""Writes prometheusrule.yaml from rules/fl5g-rules.yaml, the rules' source of truth.

Run `python k8s/components/monitoring/sync_prometheusrule.py` after editing the rules file;
tests/k8s/test_rules.py fails while the two differ.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
RULES = HERE / "rules" / "fl5g-rules.yaml"
TARGET = HERE / "prometheusrule.yaml"

HEADER = (
    "# GENERATED from rules/fl5g-rules.yaml by sync_prometheusrule.py: edit the rules file, then\n"
    "# run `python k8s/components/monitoring/sync_prometheusrule.py`.\n"
)


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (PromQL, descriptions) as literal blocks, as people write them."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render() -> str:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    obj = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "fl5g",
            "labels": {
                "app.kubernetes.io/name": "fl5g-rules",
                "app.kubernetes.io/instance": "fl5g",
                "release": "kube-prometheus-stack",
            },
        },
        "spec": {"groups": groups},
    }
    return HEADER + yaml.dump(obj, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        return 0 if TARGET.exists() and TARGET.read_text() == text else 1
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
