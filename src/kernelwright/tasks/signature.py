"""A task's signature: what its reference computes (the operators it calls, its dtype), for finding similar tasks."""

from __future__ import annotations

import ast
from typing import Any

from .models import Task

# Calls that build or reshape rather than compute: they say nothing of what a task does.
PLUMBING = frozenset({"view", "reshape", "contiguous", "size", "shape", "unsqueeze", "squeeze", "permute", "transpose",
                      "to", "float", "half", "cuda", "cpu", "super", "__init__", "Parameter", "randn", "rand",
                      "empty", "zeros", "ones", "tensor", "flatten", "expand", "dim", "item", "clone", "detach",
                      "no_grad", "manual_seed", "isinstance", "len", "range", "tuple", "list", "int", "float"})


def task_signature(task: Task) -> dict[str, Any]:
    """What the task computes, for similarity: its reference's operators and its dtype."""
    return {"ops": sorted(reference_ops(task.source)), "dtype": task.declarations.dtype}


def reference_ops(source: str) -> set[str]:
    """Names of the operators the reference's Model calls or builds (F.gelu -> gelu, nn.Linear -> linear,
    x.sum(...) -> sum), plumbing left out."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    model = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Model"), None)
    found: set[str] = set()
    for node in ast.walk(model or tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if name and name not in PLUMBING and not name.startswith("get_"):
                found.add(name.lower())
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            found.add("matmul")
    return found


def similarity(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Jaccard overlap of the operator sets, a little more for the same dtype."""
    ops_a, ops_b = set(a.get("ops") or ()), set(b.get("ops") or ())
    union = ops_a | ops_b
    overlap = len(ops_a & ops_b) / len(union) if union else 0.0
    return overlap + (0.05 if a.get("dtype") == b.get("dtype") else 0.0)
