"""JSON Patch (RFC 6902) and JSON Merge Patch (RFC 7396) over stored resources, with 400s that name the op."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import ValidationError

from flcore.problem import ProblemError


def validation_problem(exc: ValidationError, prefix: str = "") -> ProblemError:
    """A pydantic error on a patched resource as a 400 naming each bad attribute by JSON pointer."""
    invalid = [(prefix + "/" + "/".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
    return ProblemError(400, "the patched resource is not valid", invalid=invalid)


def _split(pointer: str, where: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ProblemError(
            400, "a JSON pointer must start with '/'", invalid=[(where, f"bad pointer {pointer!r}")]
        )
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]


def _parent(doc: Any, parts: list[str], where: str) -> tuple[Any, str]:
    node = doc
    for part in parts[:-1]:
        node = _child(node, part, where)
    return node, parts[-1]


def _child(node: Any, part: str, where: str) -> Any:
    try:
        if isinstance(node, list):
            return node[int(part)]
        if isinstance(node, dict):
            return node[part]
    except (KeyError, IndexError, ValueError):
        pass
    raise ProblemError(400, "the patch names a path that does not exist", invalid=[(where, f"no {part!r}")])


def _add(node: Any, key: str, value: Any, where: str) -> None:
    if isinstance(node, dict):
        node[key] = value
        return
    if isinstance(node, list):
        if key == "-":
            node.append(value)
            return
        if key.isdigit() and int(key) <= len(node):
            node.insert(int(key), value)
            return
    raise ProblemError(400, "cannot add there", invalid=[(where, f"bad target {key!r}")])


def _remove(node: Any, key: str, where: str) -> Any:
    _child(node, key, where)
    return node.pop(int(key) if isinstance(node, list) else key)


def apply_json_patch(doc: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply RFC 6902 operations in order; 400 naming ``/<index>/path`` on the first that fails."""
    for i, op in enumerate(ops):
        where = f"/{i}/path"
        parts = _split(str(op.get("path", "")), where)
        if not parts:
            raise ProblemError(400, "the whole resource cannot be patched", invalid=[(where, "empty path")])
        if parts[0] == "self":
            raise ProblemError(400, "self is set by the NEF", invalid=[(where, "read-only attribute")])
        node, key = _parent(doc, parts, where)
        kind = op.get("op")
        if kind == "add":
            _add(node, key, op.get("value"), where)
        elif kind == "remove":
            _remove(node, key, where)
        elif kind == "replace":
            _remove(node, key, where)
            _add(node, key, op.get("value"), where)
        elif kind == "test":
            if _child(node, key, where) != op.get("value"):
                raise ProblemError(400, "a test operation failed", invalid=[(where, "value differs")])
        elif kind in ("move", "copy"):
            src = _split(str(op.get("from", "")), f"/{i}/from")
            if not src:
                raise ProblemError(400, "move/copy needs a from", invalid=[(f"/{i}/from", "missing")])
            src_node, src_key = _parent(doc, src, f"/{i}/from")
            value = (
                _remove(src_node, src_key, f"/{i}/from")
                if kind == "move"
                else copy.deepcopy(_child(src_node, src_key, f"/{i}/from"))
            )
            node, key = _parent(doc, parts, where)
            _add(node, key, value, where)
        else:
            raise ProblemError(
                400, f"unknown patch op {kind!r}", invalid=[(f"/{i}/op", "add|remove|replace|...")]
            )
    return doc


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
