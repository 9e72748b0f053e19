"""The timing phase's trusted step, run in a trusted subprocess: the input template at the timing sizes (through the
reference worker), the task's weights, the effective FLOPs, the hardware sheet and the environment.

Usage: python -m kernelwright.verify.timing_prepare REQUEST_JSON
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any


def derive_seed(seed: int, purpose: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{purpose}".encode()).digest()[:6], "big")


# ---------------------------------------------------------------------------------------------- trusted step


def prepare_inputs(task: Any, overrides: dict[str, int], device: str, dtype: str, seed: int, inputs_dir: Path,
             trusted: Path, lane: str | None = None) -> dict[str, Any]:
    from .plan import Plan, Shape, Trial
    from .trusted import ReferenceFailure, run_trusted

    init = derive_seed(seed, "weights") % 100_000 + 1
    plan = Plan(seed=seed, device=device, dtype=dtype, shapes=[Shape(name="timing", overrides=overrides)], inits=[init],
                trials=[Trial(id="p0", shape="timing", init=init, distribution="normal",
                              input_seed=derive_seed(seed, "pool0"))])
    request = {"task": task.model_dump(), "plan": plan.model_dump(), "inputs_dir": str(inputs_dir),
               "trusted_dir": str(trusted), "overrides": overrides, "device": device}
    path = trusted / "request.json"
    path.write_text(json.dumps(request))
    try:
        run_trusted("kernelwright.verify.timing_prepare", str(path), what="the task's reference at the timing sizes",
                    lane=lane)
    except ReferenceFailure as exc:
        return {"error": str(exc)}
    prepared = json.loads((trusted / "prepare.json").read_text())
    prepared["init"] = init
    return prepared


def prepare(request: dict[str, Any]) -> dict[str, Any]:
    """Runs in a trusted subprocess: the input template (via the reference worker), effective FLOPs, hardware
    sheet, environment."""
    import torch

    from ..tasks import Task, instantiate
    from . import reference_worker
    from .roofline import count_effective_flops, hardware_sheet

    reference = reference_worker.run(request)
    device = request["device"]
    result: dict[str, Any] = {"reference": reference, "hardware": hardware_sheet(device),
                              "environment": _trusted_environment(device)}
    try:
        task = Task.model_validate(request["task"])
        plan = request["plan"]
        built = instantiate(task, request["overrides"], device=device, seed=plan["inits"][0], dtype=plan["dtype"])
        inputs = torch.load(Path(request["inputs_dir"]) / "in_p0.pt", weights_only=True)
        inputs = [v.to(device) if isinstance(v, torch.Tensor) else v for v in inputs]
        raw, effective = count_effective_flops(built.model, inputs)
        result.update(raw_flops=raw, effective_flops=effective)
    except Exception as exc:
        result["effective_flops_error"] = f"{type(exc).__name__}: {exc}"[:300]
    return result


def _trusted_environment(device: str) -> dict[str, Any]:
    """What the workers report of themselves (sandbox.torch_state), plus the machine the report names."""
    from ..sandbox.torch_state import process_environment
    from .roofline import cpu_sheet

    env = {**process_environment(device), "cpu_model": cpu_sheet().get("name"), "cpu_count": os.cpu_count()}
    if device.startswith("cuda"):
        env["gpu"] = env.get("device_name")
        env.update(_nvidia_smi())
    return env


def _nvidia_smi() -> dict[str, Any]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return {"clocks": "nvidia-smi not found"}
    try:
        done = subprocess.run([exe, "--query-gpu=name,clocks.sm,clocks.mem,clocks.max.sm,driver_version",
                               "--format=csv,noheader"], capture_output=True, text=True, timeout=10)
    except (subprocess.TimeoutExpired, OSError) as exc:
        return {"clocks": f"nvidia-smi failed: {type(exc).__name__}"}
    line = (done.stdout.strip().splitlines() or [""])[0]
    parts = [p.strip() for p in line.split(",")]
    if done.returncode != 0 or len(parts) < 5:
        return {"clocks": f"nvidia-smi failed: {(done.stderr or done.stdout).strip()[:200]}"}
    return {"nvidia_smi_name": parts[0], "clock_sm": parts[1], "clock_mem": parts[2], "clock_sm_max": parts[3],
            "driver": parts[4]}


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m kernelwright.verify.timing_prepare REQUEST_JSON")
    request_path = Path(sys.argv[1])
    request = json.loads(request_path.read_text())
    result = prepare(request)
    (Path(request["trusted_dir"]) / "prepare.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
