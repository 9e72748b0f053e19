"""The sealed hand-back of a worker (kernelwright.sandbox.sealed): bound before the candidate loads."""

from __future__ import annotations

import dis
import types

import pytest
import torch

from kernelwright.sandbox.sealed import SealedFileError, parse_facts, private_functions, read_sealed, seal


def _code_objects(function: types.FunctionType, seen: set[int] | None = None):
    """A closure's code, its nested code and the code of every closure it calls through its cells."""
    seen = set() if seen is None else seen
    stack = [function.__code__]
    while stack:
        code = stack.pop()
        if id(code) in seen:
            continue
        seen.add(id(code))
        yield code
        stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    for cell in function.__closure__ or ():
        inner = cell.cell_contents
        if isinstance(inner, types.FunctionType) and id(inner.__code__) not in seen:
            yield from _code_objects(inner, seen)


def test_the_sealed_closures_look_up_no_global_name(tmp_path) -> None:
    sealed = seal(str(tmp_path), {"x": 1}, guard_bytes=8)
    for function in (sealed.write, sealed.digest, sealed.tampering, sealed.call_facts, sealed.report, sealed.entropy,
                     sealed.ask, sealed.sample):
        for code in _code_objects(function):
            by_name = [i.argval for i in dis.get_instructions(code) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")]
            assert not by_name, f"{code.co_name} looks up {by_name} at call time"


def test_records_round_trip_every_dtype_and_shape_without_pickle(tmp_path) -> None:
    sealed = seal(str(tmp_path))
    values = [torch.randn(3, 4), None, torch.tensor(2.5, dtype=torch.bfloat16), torch.arange(6).reshape(2, 3).t(),
              torch.zeros(0, 5), torch.tensor([True, False]), b"facts", "not a tensor"]
    sealed.write("out.kw", values)
    back = read_sealed((tmp_path / "out.kw").read_bytes())
    assert torch.equal(back[0], values[0]) and back[1] is None and back[2].item() == 2.5
    assert torch.equal(back[3], values[3].contiguous()) and back[4].shape == (0, 5)
    assert torch.equal(back[5], values[5]) and back[6] == b"facts" and back[7] is None
    with pytest.raises(FileExistsError):  # written once, never replaced
        sealed.write("out.kw", [])


def test_malformed_records_are_refused() -> None:
    for data in (b"", b"pickle\x80", b"KWSEAL01" + (1).to_bytes(8, "little")):
        with pytest.raises(SealedFileError):
            read_sealed(data)
    with pytest.raises(SealedFileError):
        parse_facts(b"changed=[0];guards=[];aliases=[]; extra")


def test_rebinding_what_a_worker_uses_changes_nothing_it_hands_back(tmp_path, monkeypatch) -> None:
    """A candidate that rebinds torch.Tensor methods, torch.save or a module global the worker calls gets
    no say in the bytes written; the rebinding of a watched global and a dispatcher override are reported."""
    namespace = {"helper": lambda: "honest"}
    sealed = seal(str(tmp_path), namespace)
    private = private_functions({**namespace, "call_helper": lambda: namespace["helper"]()}, ["call_helper"])
    value = torch.arange(4, dtype=torch.float32)
    monkeypatch.setattr(torch.Tensor, "detach", lambda self: torch.ones(4))
    monkeypatch.setattr(torch.Tensor, "cpu", lambda self: torch.ones(4))
    monkeypatch.setattr(torch, "save", lambda *a, **k: None)
    namespace["helper"] = lambda: "forged"
    sealed.write("out.kw", [value])
    assert torch.equal(read_sealed((tmp_path / "out.kw").read_bytes())[0], torch.arange(4, dtype=torch.float32))
    assert sealed.tampering() == ["worker global helper rebound"]
    library = torch.library.Library("aten", "IMPL")  # noqa: F841 (kept alive while checked)
    library.impl("_to_copy", lambda *args, **kwargs: torch.zeros(1), "CPU")
    assert "dispatcher entry of aten::_to_copy changed" in sealed.tampering()
    assert private["call_helper"] is not None


def test_private_functions_keep_calling_the_originals_after_the_module_is_rebound() -> None:
    module = types.ModuleType("worker")
    exec("def check():\n    return verdict()\n\ndef verdict():\n    return 'honest'\n", module.__dict__)
    private = private_functions(module.__dict__, ["check", "verdict"])
    module.verdict = lambda: "forged"
    assert module.check() == "forged" and private["check"]() == "honest"


def test_call_facts_name_outputs_handed_out_again_and_earlier_outputs_changed(tmp_path) -> None:
    sealed = seal(str(tmp_path))
    shared = torch.zeros(4)
    first = sealed.call_facts([], [], [], [shared], [], [])
    assert parse_facts(first)["reused"] == [] and parse_facts(first)["clobbered"] == []
    digest = sealed.digest(shared)
    shared.add_(1.0)  # the next call writes into what the previous one returned ...
    again = parse_facts(sealed.call_facts([], [], [], [shared, torch.ones(2)], [shared], [digest]))
    assert again["reused"] == [0] and again["clobbered"] == [0]
    fresh = parse_facts(sealed.call_facts([], [], [], [torch.ones(4)], [torch.zeros(4)], [None]))
    assert fresh["reused"] == [] and fresh["clobbered"] == []
