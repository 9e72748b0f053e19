"""Guard bands around the candidate's inputs (kernelwright.workers.correctness)."""

from __future__ import annotations

import torch

from kernelwright.sandbox.sealed import parse_facts, seal
from kernelwright.workers.correctness import GUARD_BYTES, _guarded


def _bands_intact(band: torch.Tensor, tmp_path) -> bool:
    sealed = seal(str(tmp_path), guard_bytes=GUARD_BYTES)
    return not parse_facts(sealed.call_facts([None], [band], [None], [], [], []))["guards_written"]


def test_an_input_sits_between_nan_bands_that_reveal_writes_past_either_end(tmp_path) -> None:
    value = torch.randn(7, 13)
    view, band = _guarded(value)
    assert band is not None and torch.equal(view, value) and view.is_contiguous() and view.shape == value.shape
    assert view.data_ptr() % 64 == 0 and view.data_ptr() - band.data_ptr() == GUARD_BYTES
    past_end = band[GUARD_BYTES + value.numel() * 4:].view(torch.float32)
    assert torch.isnan(past_end).all() and _bands_intact(band, tmp_path)

    view.add_(1.0)  # writes inside the input leave the bands alone
    assert _bands_intact(band, tmp_path)
    band[GUARD_BYTES + value.numel() * 4 + 3] = 0  # one byte past the end
    assert not _bands_intact(band, tmp_path)
    _, before = _guarded(value)
    assert before is not None
    before[GUARD_BYTES - 1] = 7  # one byte before the start
    assert not _bands_intact(before, tmp_path)


def test_integer_inputs_are_guarded_and_other_values_pass_through() -> None:
    index = torch.arange(10, dtype=torch.int64)
    view, band = _guarded(index)
    assert band is not None and torch.equal(view, index)
    assert (band[-GUARD_BYTES:].view(torch.int64) == -1).all()
    transposed = torch.randn(4, 6).t()
    for untouched in (transposed, torch.ones(3, dtype=torch.bool), torch.empty(0), 3, None):
        same, no_band = _guarded(untouched)
        assert same is untouched and no_band is None
