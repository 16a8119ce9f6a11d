"""The open_clip loader on tiny random models saved like real checkpoints; spaces, backends, missing weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("open_clip")

from chronicon.embed.clip import ClipModel, ClipSpec, weights_problem
from chronicon.errors import ModelUnavailableError
from clipfactory import make_tiny_clip


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")


def _images(n: int, side: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.integers(0, 255, (side, side, 3), dtype=np.uint8) for _ in range(n)]


def test_local_folder_loads_through_open_clip_and_embeds(tiny_dir: Path, tmp_path: Path) -> None:
    model = ClipModel(ClipSpec(f"local-dir:{tiny_dir}"), device="cpu", cache_dir=tmp_path)
    assert model.image_size == 32 and model.dim == 32
    images = model.encode_images(_images(3, 32))
    texts = model.encode_texts(["a cat", "a dog"])
    assert images.shape == (3, 32) and texts.shape == (2, 32)
    assert np.allclose(np.linalg.norm(images, axis=1), 1, atol=1e-5)
    assert np.allclose(np.linalg.norm(texts, axis=1), 1, atol=1e-5)
    # Loading the same folder twice gives the same weights, so the same vectors.
    again = ClipModel(ClipSpec(f"local-dir:{tiny_dir}"), device="cpu", cache_dir=tmp_path)
    assert np.allclose(again.encode_texts(["a cat"]), texts[:1], atol=1e-6)


def test_checkpoint_file_with_architecture_name(tiny_dir: Path, tmp_path: Path) -> None:
    import open_clip

    open_clip.add_model_config(_arch_json(tiny_dir, tmp_path))
    spec = ClipSpec("tiny-test-arch", str(tiny_dir / "open_clip_model.safetensors"))
    model = ClipModel(spec, device="cpu", cache_dir=tmp_path)
    ref = ClipModel(ClipSpec(f"local-dir:{tiny_dir}"), device="cpu", cache_dir=tmp_path)
    assert np.allclose(model.encode_texts(["x"]), ref.encode_texts(["x"]), atol=1e-6)


def _arch_json(tiny_dir: Path, tmp_path: Path) -> Path:
    import json

    cfg = json.loads((tiny_dir / "open_clip_config.json").read_text())["model_cfg"]
    path = tmp_path / "tiny-test-arch.json"
    path.write_text(json.dumps(cfg))
    return path


def test_spaces_differ_per_weights_and_are_stable(tiny_dir: Path, tmp_path: Path) -> None:
    other = make_tiny_clip(tmp_path / "other-clip", seed=1)
    a, b = ClipSpec(f"local-dir:{tiny_dir}"), ClipSpec(f"local-dir:{other}")
    assert a.space != b.space and a.space == ClipSpec(f"local-dir:{tiny_dir}").space
    assert ClipSpec("ViT-B-32", "laion2b_s34b_b79k").space == "clip-vit-b-32-laion2b-s34b-b79k"


def test_onnx_backend_matches_eager(tiny_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    eager = ClipModel(ClipSpec(f"local-dir:{tiny_dir}"), device="cpu", backend="eager", cache_dir=tmp_path)
    onnx = ClipModel(ClipSpec(f"local-dir:{tiny_dir}"), device="cpu", backend="onnxruntime", cache_dir=tmp_path)
    images = _images(4, 32)
    out = onnx.encode_images(images)
    assert onnx.image_runner().backend == "onnxruntime"
    assert np.allclose(out, eager.encode_images(images), atol=1e-4)
    assert list((tmp_path / "onnx").glob("*.onnx")), "the exported model is cached under the model cache"


def test_missing_weights_are_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        ClipModel(ClipSpec("ViT-B-32", str(tmp_path / "nope.pt")), device="cpu")
    assert "not an open_clip model folder" in str(weights_problem(ClipSpec(f"local-dir:{tmp_path}")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    problem = weights_problem(ClipSpec("ViT-B-32", "laion2b_s34b_b79k"))
    assert problem is not None and "HF_HUB_OFFLINE" in problem


def test_an_unreachable_hub_is_known_in_seconds_not_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without internet the hub's retries took minutes; a short connect to the endpoint says it at once."""
    import socket
    import time

    from chronicon.embed import hub

    with socket.socket() as probe:  # a port nothing listens on: the connect is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for key in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    hub._forget()
    started = time.perf_counter()
    problem = weights_problem(ClipSpec("ViT-B-32", "laion2b_s34b_b79k"))
    assert problem is not None and "127.0.0.1 cannot be reached" in problem and "HF_HUB_OFFLINE=1" in problem
    assert time.perf_counter() - started < hub.PROBE_TIMEOUT_S + 1
    with socket.socket() as server:  # a hub that answers: no problem, the download will be tried
        server.bind(("127.0.0.1", 0))
        server.listen()
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        assert hub.hub_unreachable() is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    hub._forget()
    assert hub.hub_unreachable() is None  # behind a proxy the direct connect proves nothing
    hub._forget()
