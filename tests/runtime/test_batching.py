"""auto_batch_size: doubling until an out-of-memory error, halving when the start size is already too big."""

from __future__ import annotations

import pytest

from chronicon.runtime.batching import auto_batch_size, is_out_of_memory


def fake(limit: int, *, message: str = "CUDA out of memory. Tried to allocate 2.00 GiB") -> tuple[list[int], object]:
    tried: list[int] = []

    def try_batch(n: int) -> None:
        tried.append(n)
        if n > limit:
            raise RuntimeError(message)

    return tried, try_batch


def test_grows_until_oom() -> None:
    tried, try_batch = fake(100)
    assert auto_batch_size(try_batch, start=8) == 64  # type: ignore[arg-type]
    assert tried == [8, 16, 32, 64, 128]


def test_stops_at_maximum() -> None:
    tried, try_batch = fake(10_000)
    assert auto_batch_size(try_batch, start=8, maximum=100) == 100  # type: ignore[arg-type]
    assert tried == [8, 16, 32, 64, 100]


def test_halves_when_start_fails() -> None:
    tried, try_batch = fake(5)
    assert auto_batch_size(try_batch, start=32) == 4  # type: ignore[arg-type]
    assert tried == [32, 16, 8, 4, 8]


def test_reraises_when_even_one_fails() -> None:
    _, try_batch = fake(0)
    with pytest.raises(RuntimeError, match="out of memory"):
        auto_batch_size(try_batch, start=4)  # type: ignore[arg-type]


def test_other_errors_propagate() -> None:
    _, try_batch = fake(16, message="shape mismatch")
    with pytest.raises(RuntimeError, match="shape mismatch"):
        auto_batch_size(try_batch, start=8)  # type: ignore[arg-type]


def test_torch_oom_type_is_recognised() -> None:
    torch = pytest.importorskip("torch")
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA error"))
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: out of memory"))
    assert not is_out_of_memory(ValueError("out of memory"))
    assert not is_out_of_memory(RuntimeError("size mismatch"))
