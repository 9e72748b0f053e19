"""Search strategies at an equal number of Coder calls: chain vs beam vs evolve on CPU tasks.

    python bench/search.py [--calls 12] [--samples 4] [--out bench/results/NAME.json]

The model is the shipped `scripted/pool-cpu`: its replies come from a fixed pool of real C++ kernels per task
(correct ones of different speeds, labelled by the optimisations they apply, and broken ones), chosen by the
parent's marker and the prompt's optimisation direction (kernelwright.llm.pool). Every strategy gets the same number
of Coder calls per task: a chain one sample of `calls` rounds, beam and evolve `samples` samples of `calls / samples`
rounds. Every pool kernel is built once before the runs (one shared build cache), so the strategies differ only in
which kernels they reach and how their verifications overlap. Reported per strategy: the best verified speedup
reached after each Coder call (geomean over tasks, from the rounds' own verifications), the final re-timed best of
each task, LLM calls, tokens, dollars, wall time and the device lane's busy share, in one run on one machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from machine import machine  # noqa: E402

MODEL = "pool-cpu"
STRATEGIES = ("chain", "beam", "evolve")


def pool_tasks() -> dict[str, dict[str, str]]:
    from kernelwright.llm.pool import load_pool
    from kernelwright.llm.scripted import resolve_script

    _, sources = load_pool(resolve_script(MODEL))
    return sources


def warm(cache: Path, sources: dict[str, dict[str, str]]) -> float:
    """Builds every pool kernel once into `cache`; returns the seconds it took."""
    from kernelwright.sandbox.build import BuildCache
    from kernelwright.evaluate import open_executor
    from kernelwright.tasks import find_task_path, load_task
    from kernelwright.verify.pipeline import VerifyOptions

    started = time.perf_counter()
    executor = open_executor("local", "cpu", cpu_workers=2, cache=BuildCache(cache))
    options = VerifyOptions(device="cpu", compile_baseline=False)
    for ref, variants in sources.items():
        task = load_task(find_task_path(ref, [ROOT / "tasks"]))
        for source in variants.values():
            executor.build(task, source, options)
    return time.perf_counter() - started


def run_strategy(strategy: str, tasks: list[str], calls: int, samples: int, scratch: Path, cache: Path) -> dict:
    samples = 1 if strategy == "chain" else samples
    rounds = calls // samples
    db = scratch / f"{strategy}.db"
    env = {**os.environ, "KERNELWRIGHT_DB": str(db), "KERNELWRIGHT_CACHE": str(cache)}
    command = [sys.executable, "-m", "kernelwright", "eval", *tasks, "--model", f"scripted/{MODEL}", "--device", "cpu",
               "--strategy", strategy, "--samples", str(samples), "--rounds", str(rounds), "--workers", str(len(tasks)),
               "--no-profile", "--no-compile-baseline", "--no-memory", "--json"]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, text=True, capture_output=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{strategy}: eval failed: {done.stderr[-2000:]}")
    summary = json.loads(done.stdout)
    curves, finals = best_by_call(db, samples), {t["task"]: t.get("best_speedup_eager") for t in summary["tasks"]
                                                  if t.get("sample", 0) == 0}
    totals = summary["metrics"]
    return {"strategy": strategy, "samples": samples, "rounds": rounds, "coder_calls_per_task": samples * rounds,
            "wall_s": round(wall, 1), "device_busy_share": summary["executor"]["device_busy_share"],
            "llm_calls": curves.pop("llm_calls"), "input_tokens": totals.get("input_tokens"),
            "output_tokens": totals.get("output_tokens"), "cost_usd": totals.get("cost_usd"),
            "final_speedup_eager": finals, "best_by_call": curves,
            "geomean_best_by_call": geomean_curve(list(curves.values()))}


def best_by_call(db: Path, samples: int) -> dict:
    """Per task: the best valid speedup among the candidates of the first c Coder calls, for c = 1, 2, ...

    Calls are ordered as the loop makes them: by round, then sample (a search's round runs every sample once)."""
    from kernelwright.store import Store
    from kernelwright.verify.models import VerificationResult

    curves: dict = {}
    with Store(db, readonly=True) as store:
        [run] = store.runs()
        calls = store.llm_calls(run_id=run.id)
        curves["llm_calls"] = {role: sum(c.role == role for c in calls) for role in ("coder", "judge")}
        tasks = {t.hash: t.ref for t in store.tasks()}
        coder = sorted((c for c in calls if c.role == "coder"), key=lambda c: (c.task_hash, c.round, c.sample))
        made = {c.llm_call_id: c for c in store.candidates(run_id=run.id)}
        for task_hash in sorted({c.task_hash for c in coder}):
            best, curve = None, []
            for call in (c for c in coder if c.task_hash == task_hash):
                candidate = made.get(call.id)
                checked = store.verifications(candidate.id) if candidate else []
                round_result = next((v for v in checked if v.purpose != "final"), None)
                speed = VerificationResult.model_validate(round_result.evidence).valid_speedup_eager if round_result else None
                if speed is not None and (best is None or speed > best):
                    best = speed
                curve.append(round(best, 4) if best is not None else None)
            curves[tasks.get(task_hash, task_hash)] = curve
    return curves


def geomean_curve(curves: list[list[float | None]]) -> list[float | None]:
    """Geomean over tasks after each call; a task with nothing verified yet counts as no speedup (None overall)."""
    out = []
    for i in range(max((len(c) for c in curves), default=0)):
        values = [c[min(i, len(c) - 1)] for c in curves if c]
        out.append(round(math.exp(sum(math.log(v) for v in values) / len(values)), 4)
                   if values and all(v for v in values) else None)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=12, help="Coder calls per task for every strategy")
    parser.add_argument("--samples", type=int, default=4, help="beam and evolve: samples per round")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.calls % args.samples:
        raise SystemExit("--calls must be a multiple of --samples, so every strategy makes the same calls")
    sources = pool_tasks()
    tasks = list(sources)
    with tempfile.TemporaryDirectory(prefix="kw-bench-search-") as scratch_dir:
        scratch = Path(scratch_dir)
        cache = scratch / "cache"
        warm_s = warm(cache, sources)
        print(f"built {sum(len(v) for v in sources.values())} pool kernels in {warm_s:.0f} s")
        results = []
        for strategy in STRATEGIES:
            result = run_strategy(strategy, tasks, args.calls, args.samples, scratch, cache)
            results.append(result)
            print(f"{strategy}: best geomean after {args.calls} calls {result['geomean_best_by_call'][-1]}, "
                  f"{result['llm_calls']} calls, ${result['cost_usd'] or 0:.4f}, {result['wall_s']:.0f} s, "
                  f"device busy {result['device_busy_share']:.0%}")
    report = {"benchmark": "search", "model": f"scripted/{MODEL}", "tasks": tasks, "coder_calls_per_task": args.calls,
              "machine": machine(), "pool_build_s": round(warm_s, 1), "results": results}
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
