"""Trusted reference worker: draws the harness inputs, runs the task's Model in float64 and in its dtype.

Writes the candidate's inputs and weights into the candidate job's input folder, and the expected
outputs into the trusted folder, which no candidate process can see.
Usage: python -m kernelwright.verify.reference_worker REQUEST_JSON
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch

from ..sandbox.torch_state import apply_settings
from ..tasks import Task, instantiate
from ..tasks.instantiate import TORCH_DTYPES, task_inputs
from .distributions import redraw
from .plan import REPEATS, Plan, Trial


def run(request: dict[str, Any]) -> dict[str, Any]:
    task = Task.model_validate(request["task"])
    plan = Plan.model_validate(request["plan"])
    inputs_dir, trusted_dir = Path(request["inputs_dir"]), Path(request["trusted_dir"])
    apply_settings(threads=None, allow_tf32=False)  # the reference is always strict: its task-dtype output sets the bounds
    dtype = TORCH_DTYPES[plan.dtype]
    shapes = {shape.name: shape.overrides for shape in plan.shapes}
    models: dict[str, tuple[torch.nn.Module, torch.nn.Module]] = {}
    report: dict[str, Any] = {"trials": {}, "models": {}}
    drawn: dict[str, list[Any]] = {}
    sources = {t.source_trial for t in plan.trials if t.purpose == "one_element"}
    for trial in plan.trials:
        model_id = trial.model_id
        if trial.purpose in REPEATS:
            # Same inputs as the trial it repeats, so the same expected outputs: the judge reads that trial's files.
            report["trials"][trial.id] = {**report["trials"][trial.source_trial or ""], "model": model_id}
            continue
        if model_id not in models:
            built = instantiate(task, shapes[trial.shape], device=plan.device, seed=trial.init, dtype=plan.dtype)
            if trial.weights_seed:
                donor = instantiate(task, shapes[trial.shape], device=plan.device, seed=trial.weights_seed,
                                    dtype=plan.dtype)
                built.model.load_state_dict(donor.model.state_dict())
            torch.save(built.init_inputs, inputs_dir / f"init_{model_id}.pt")
            torch.save(built.model.state_dict(), inputs_dir / f"state_{model_id}.pt")
            models[model_id] = (built.model, float64_copy(built.model))
            report["models"][model_id] = {"params": sum(p.numel() for p in built.model.parameters()),
                                          "seed": trial.init}
        inputs = _inputs_for(trial, task, shapes[trial.shape], plan, dtype, drawn)
        if trial.id in sources:  # only the probes' sources are drawn on again: at nominal GPU sizes each is GBs
            drawn[trial.id] = inputs
        torch.save([_cpu(x) for x in inputs], inputs_dir / f"in_{trial.id}.pt")
        model, model64 = models[model_id]
        with torch.no_grad():
            expected = as_list(model64(*[float64(x) for x in inputs]))
            eager = as_list(model(*inputs))
        finite = all(torch.isfinite(o).all().item() for o in expected if o.is_floating_point())
        defined = finite
        if trial.distribution == "specials" and not finite:
            # Inputs with inf / NaN: an output is defined where the reference gives the same with every inf replaced
            # by a huge finite value (NaN kept); elsewhere (inf - inf in a softmax row, say) it is an artefact of the
            # evaluation order, and the candidate may give anything there. The trial counts where the task's own
            # eager output agrees with the reference on the defined outputs' NaN / Inf.
            with torch.no_grad():
                limit = as_list(model64(*[_huge(float64(x)) for x in inputs]))
            undefined = [_disagree(want, alt) for want, alt in zip(expected, limit)]
            defined = same_specials(expected, eager, undefined)
            torch.save([_cpu(u) for u in undefined], trusted_dir / f"undefined_{trial.id}.pt")
        torch.save([_cpu(o) for o in expected], trusted_dir / f"expected_{trial.id}.pt")
        torch.save([_cpu(o) for o in eager], trusted_dir / f"eager_{trial.id}.pt")
        report["trials"][trial.id] = {
            "model": model_id,
            "finite": finite,
            "defined": defined,
            "outputs": [{"shape": list(o.shape), "dtype": str(o.dtype).removeprefix("torch."),
                         "bytes": o.numel() * o.element_size()} for o in eager],
        }
    return report


def _inputs_for(trial: Trial, task: Task, overrides: dict[str, int], plan: Plan, dtype: torch.dtype,
                drawn: dict[str, list[Any]]) -> list[Any]:
    if trial.purpose == "one_element":
        changed = [x.clone() if isinstance(x, torch.Tensor) else x for x in drawn[trial.source_trial or ""]]
        target = next((x for x in changed if isinstance(x, torch.Tensor) and x.is_floating_point()), None)
        if target is not None:
            generator = torch.Generator().manual_seed(trial.input_seed)
            flat = target.view(-1)
            index = int(torch.randint(flat.numel(), (1,), generator=generator))
            flat[index] = flat[index] + 3.0 * (flat.float().abs().max().clamp_min(1.0))
        return changed
    raw = task_inputs(task, overrides, device=plan.device, seed=trial.input_seed)
    generator = torch.Generator().manual_seed(trial.input_seed)
    return redraw(raw, trial.distribution, generator, task.declarations.domain_of, dtype)


def same_specials(expected: list[torch.Tensor], eager: list[torch.Tensor],
                  undefined: list[torch.Tensor] | None = None) -> bool:
    """Whether every float output of the task's eager run is NaN, +inf and -inf exactly where the float64 reference
    is (integer outputs: equal), outside the `undefined` elements."""
    if len(expected) != len(eager):
        return False
    for index, (want, got) in enumerate(zip(expected, eager)):
        if want.shape != got.shape:
            return False
        keep = ~undefined[index] if undefined is not None else torch.ones_like(want, dtype=torch.bool)
        if not want.is_floating_point():
            if not torch.equal(want[keep], got.to(want.dtype)[keep]):
                return False
            continue
        got = got.to(torch.float64)
        for mask in (torch.isnan, torch.isposinf, torch.isneginf):
            if not torch.equal(mask(want) & keep, mask(got) & keep):
                return False
    return True


def _huge(value: Any) -> Any:
    """A float64 input with +-inf replaced by +-1e300 (NaN kept)."""
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return torch.nan_to_num(value, nan=float("nan"), posinf=1e300, neginf=-1e300)
    return value


def _disagree(want: torch.Tensor, alt: torch.Tensor) -> torch.Tensor:
    """Elements where two references differ: not equal, not both NaN, not both finite and within 1e-9 relative."""
    if not want.is_floating_point():
        return want != alt
    close = torch.isfinite(want) & torch.isfinite(alt) & ((want - alt).abs() <= 1e-9 * (want.abs() + alt.abs()))
    return ~((want == alt) | (torch.isnan(want) & torch.isnan(alt)) | close)


def float64_copy(model: torch.nn.Module) -> torch.nn.Module:
    import copy

    return copy.deepcopy(model).to(torch.float64)


def float64(value: Any) -> Any:
    return value.to(torch.float64) if isinstance(value, torch.Tensor) and value.is_floating_point() else value


def _cpu(value: Any) -> Any:
    return value.detach().to("cpu") if isinstance(value, torch.Tensor) else value


def as_list(out: Any) -> list[torch.Tensor]:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def main() -> None:
    request_path = Path(sys.argv[1])
    request = json.loads(request_path.read_text())
    report = run(request)
    (Path(request["trusted_dir"]) / "reference.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main()
