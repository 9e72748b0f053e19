"""The device nodes a GPU worker is given: its lane's `/dev/nvidiaN` and the driver's shared nodes, not all of `/dev`.

A lane is a CUDA device index in PCI bus order (workers get `CUDA_DEVICE_ORDER=PCI_BUS_ID`); the driver's
`/proc/driver/nvidia/gpus/<bus>/information` names each GPU's device minor and UUID. Inside the sandbox the worker
sees only its GPU, so it is named there by UUID, which no renumbering can make ambiguous.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

DRIVER_GPUS = Path("/proc/driver/nvidia/gpus")
SHARED_NODES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools")  # -tools: Nsight Compute's counters


class Gpu(BaseModel):
    bus: str
    minor: int
    uuid: str | None = None


def driver_gpus(root: Path = DRIVER_GPUS) -> list[Gpu]:
    """Every GPU the driver reports, in PCI bus order."""
    found = []
    try:
        entries = sorted(root.iterdir(), key=lambda path: path.name.lower())
    except OSError:
        return []
    for entry in entries:
        try:
            fields = dict(line.split(":", 1) for line in (entry / "information").read_text().splitlines()
                          if ":" in line)
            minor = int(fields["Device Minor"].strip())
        except (OSError, KeyError, ValueError):
            continue
        uuid = fields.get("GPU UUID", "").strip() or None
        found.append(Gpu(bus=entry.name, minor=minor, uuid=uuid))
    return found


def lane_nodes(lane: str | None, dev: Path = Path("/dev"), root: Path = DRIVER_GPUS) -> tuple[list[Path], dict[str, str], str | None]:
    """(device nodes to bind, environment for the worker, a note when the lane's GPU could not be singled out).

    No lane: every GPU's node. A lane the driver's listing cannot resolve: every GPU's node too, with the note (a
    worker that cannot reach its GPU would fail every candidate; one that can reach all is the old confinement).
    """
    shared = [dev / name for name in SHARED_NODES if (dev / name).exists()]
    every = sorted(p for p in dev.glob("nvidia[0-9]*") if p.name[len("nvidia"):].isdigit())
    if lane is None:  # the process's default device, as the trusted side's
        return shared + every, {}, None
    env = {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    gpus = driver_gpus(root)
    fallback = {**env, "CUDA_VISIBLE_DEVICES": lane}
    try:
        gpu = gpus[int(lane)]
    except (ValueError, IndexError):
        return shared + every, fallback, f"GPU lane {lane!r} is not in the driver's listing: every GPU node bound"
    node = dev / f"nvidia{gpu.minor}"
    if not node.exists() or gpu.uuid is None:
        return shared + every, fallback, f"GPU lane {lane}: no node or UUID for {gpu.bus}: every GPU node bound"
    return shared + [node], {**env, "CUDA_VISIBLE_DEVICES": gpu.uuid}, None
