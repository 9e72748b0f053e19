"""Checking the timed candidate calls the dealer chose (see kernelwright.verify.call_checks).

After the timing worker has ended, a trusted process (`regenerate`, never loads candidate code) redraws each
checked call's inputs from the seed the worker reported, runs the task's Model on them in float64 and in the task
dtype, and keeps the elements the dealer's sample seed picks (the whole output when it is small). `judge_checks`
compares what the worker handed back against them, with the verifier's tolerances.

Usage of the trusted helper process: python -m kernelwright.verify.timing_checks REQUEST_JSON
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .call_checks import Dealer, catch_bound
from .flags import flag


def regenerate(request: dict[str, Any]) -> dict[str, Any]:
    """Runs in a trusted subprocess: expected (float64) and eager outputs of each checked call, sampled."""
    import torch

    from ..sandbox.sealed import index_sampler
    from ..sandbox.torch_state import apply_settings
    from ..tasks import Task, instantiate
    from ..tasks.instantiate import TORCH_DTYPES
    from .distributions import seeded_draws
    from .reference_worker import as_list, float64, float64_copy

    apply_settings(threads=None, allow_tf32=False)  # strict, as the reference worker
    task = Task.model_validate(request["task"])
    device, dtype, limit = request["device"], TORCH_DTYPES[request["dtype"]], int(request["limit"])
    out = Path(request["out"])
    built = instantiate(task, request["overrides"], device=device, seed=int(request["init"]), dtype=request["dtype"])
    model, model64 = built.model.eval(), float64_copy(built.model).eval()
    template = [v.to(device) if isinstance(v, torch.Tensor) else v
                for v in torch.load(request["template"], weights_only=True)]
    domains = list(request.get("domains") or [])
    generator = torch.Generator(device=device)
    indices = index_sampler()
    shapes: dict[str, list[Any]] = {}

    def domain_of(position: int) -> str:
        return domains[position] if position < len(domains) else "real"

    def sampled(values: list[torch.Tensor], seed: int) -> list[torch.Tensor]:
        picked = []
        for index, value in enumerate(values):
            flat = value.detach().reshape(-1)
            if flat.numel() > limit:
                flat = flat[indices(flat.numel(), limit, seed, index).to(flat.device)]
                picked.append(flat.cpu())
            else:
                picked.append(value.detach().cpu())
        return picked

    for entry in request["calls"]:
        drawn = seeded_draws(template, int(entry["input_seed"]), generator, domain_of)
        inputs = [drawn[i].to(dtype) if i in drawn else v for i, v in enumerate(template)]
        with torch.no_grad():
            expected = as_list(model64(*[float64(x) for x in inputs]))
            eager = as_list(model(*inputs))
        call = int(entry["call"])
        shapes[str(call)] = [[str(o.dtype).removeprefix("torch."), list(o.shape)] for o in eager]
        torch.save(sampled(expected, int(entry["sample_seed"])), out / f"expected_c{call}.pt")
        torch.save(sampled(eager, int(entry["sample_seed"])), out / f"eager_c{call}.pt")
    return {"shapes": shapes}


def judge_checks(report: Any, task: Any, result: dict[str, Any], job: Path, trusted: Path, dealer: Dealer,
                 request: dict[str, Any], output_bytes: int | None, lane: str | None = None) -> None:
    """The checked calls' handed-back outputs against the trusted redraw (on `lane`'s GPU); the bound the schedule
    gives."""
    import torch

    from ..sandbox.isolation import read_worker_file
    from ..sandbox.sealed import read_call_record, read_shapes
    from .compare import compare_outputs, comparison_device
    from .policy import load_tolerances
    from .trusted import ReferenceFailure, run_trusted

    calls = report.subjects["candidate"].n if "candidate" in report.subjects else 0
    report.recheck_catches_5pct = round(catch_bound(calls, dealer.always), 3)
    checked = [c for c in dealer.checked if c.call < calls]
    found = [str(t) for t in result.get("tampering") or [] if isinstance(t, str)]
    tampered: list[str] = []
    if checked:
        path = trusted / "checks.json"
        path.write_text(json.dumps({**request, "out": str(trusted), "calls": [
            {"call": c.call, "input_seed": c.input_seed, "sample_seed": c.sample_seed} for c in checked]}))
        try:
            run_trusted("kernelwright.verify.timing_checks", str(path), what="the task's reference on the checked "
                        "timed calls' inputs", lane=lane)
        except ReferenceFailure as exc:
            report.flags.append(flag("timing_harness", str(exc)[:500]))
            return
        shapes = json.loads((trusted / "checks_result.json").read_text())["shapes"]
    limit = int((output_bytes or 2**31) * 1.1) + 2**20
    policy, dtype, device = load_tolerances(), task.declarations.dtype, comparison_device(report.device, lane)
    for entry in checked:
        call = entry.call
        try:
            (tampering, shape_blob), got = read_call_record(read_worker_file(job, f"check_{call}.kw", limit), blobs=2)
            handed = read_shapes(shape_blob)
        except (OSError, ValueError) as exc:
            report.recheck_failures.append(f"call {call}: its outputs were not handed back "
                                           f"({type(exc).__name__})")
            continue
        if tampering:
            tampered.append(f"call {call}: {tampering.decode('utf-8', errors='replace')}"[:300])
        report.rechecked += 1
        want = [(getattr(torch, d), s) for d, s in shapes[str(call)]]
        wrong = next((i for i, (h, w) in enumerate(zip(handed, want)) if h is None or (h[0], list(h[1])) != w), None)
        if len(handed) != len(want) or wrong is not None:
            report.recheck_failures.append(f"call {call}: returned {_shapes(handed)}, expected {_shapes(want)}"[:500])
            continue
        expected = torch.load(trusted / f"expected_c{call}.pt", weights_only=True)
        eager = torch.load(trusted / f"eager_c{call}.pt", weights_only=True)
        problems = compare_outputs(got, expected, eager, dtype, policy, task.declarations.tolerance, device)
        if problems:
            report.recheck_failures.append(f"call {call}, output {problems[0].output}: {problems[0].detail}"[:500])
    if tampered or found:
        report.flags.append(flag("harness_tampered", "the candidate tampered with the timing worker: "
                                 + "; ".join((tampered + found)[:3])))
    if report.recheck_failures:
        report.flags.append(flag("recheck_failed", f"{len(report.recheck_failures)} of {len(checked)} checked "
                                 f"timed calls wrong; first: {report.recheck_failures[0]}"[:600]))
    elif not checked:
        report.notes.append("no timed call was checked (no timed candidate call finished)")


def _shapes(shapes: list[Any]) -> str:
    shown = ["not a tensor" if s is None else f"{str(s[0]).removeprefix('torch.')}{list(s[1])}" for s in shapes]
    return ", ".join(shown) or "nothing"


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m kernelwright.verify.timing_checks REQUEST_JSON")
    request = json.loads(Path(sys.argv[1]).read_text())
    result = regenerate(request)
    (Path(request["out"]) / "checks_result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
