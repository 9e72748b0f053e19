"""Build phase worker: compiles one recorded extension with the harness's flags (no candidate Python runs here).

Usage: python -m kernelwright.workers.build JOB_DIR  (request: sandbox.protocol.BuildRequest)
"""

from __future__ import annotations

import os
import time
import traceback
from pathlib import Path
from typing import Any

from ..sandbox.extensions import ExtensionSpec, Toolchain
from ..sandbox.protocol import BuildRequest


def build(job: Path, request: dict[str, Any]) -> dict[str, Any]:
    spec = ExtensionSpec.model_validate(request["spec"])
    toolchain = Toolchain.model_validate(request["toolchain"])
    name = request["module"]
    build_dir = job / "build"
    build_dir.mkdir(exist_ok=True)
    if toolchain.cuda_arch:
        os.environ["TORCH_CUDA_ARCH_LIST"] = toolchain.cuda_arch

    import torch.utils.cpp_extension as cpp_extension

    cpp_sources, cuda_sources, no_implicit = list(spec.cpp_sources), list(spec.cuda_sources), False
    if spec.torch_free_cuda:
        # The CUDA file needs none of torch's headers, which are nearly all of its compile time.
        no_implicit = True
        cpp_sources.insert(0, "#include <torch/extension.h>")
        cuda_sources.insert(0, "#include <cuda_runtime.h>")
    cflags = list(toolchain.cflags)
    if request.get("pch"):
        cflags += ["-include", request["pch"], "-Winvalid-pch"]
    started = time.perf_counter()
    try:
        cpp_extension.load_inline(
            name=name,
            cpp_sources=cpp_sources,
            cuda_sources=cuda_sources or None,
            functions=spec.functions,
            extra_cflags=cflags,
            extra_cuda_cflags=toolchain.cuda_cflags or None,
            extra_ldflags=toolchain.ldflags or None,
            build_directory=str(build_dir),
            with_cuda=bool(cuda_sources),
            verbose=True,
            no_implicit_headers=no_implicit,
        )
    except Exception as exc:  # the compiler's output is the evidence, whatever raised
        return {"ok": False, "seconds": time.perf_counter() - started, "error": str(exc),
                "kind": type(exc).__name__, "trace": traceback.format_exc(limit=3)}
    library = build_dir / f"{name}.so"
    return {"ok": library.exists(), "seconds": time.perf_counter() - started, "library": str(library),
            "fast_layout": no_implicit, "error": None if library.exists() else "build produced no library"}


if __name__ == "__main__":
    from ..sandbox.worker_main import worker_main

    worker_main(BuildRequest, build)
