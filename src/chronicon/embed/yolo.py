"""Object detection with ultralytics YOLO: a model by name or a local .pt/.onnx/.engine; TensorRT engines on CUDA."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from chronicon.embed.detector import Detection
from chronicon.errors import ModelUnavailableError

DEFAULT_YOLO = "yolov8n.pt"


ENGINE_BATCH = 16  # most images per YOLO call on CUDA (the TensorRT engine's largest batch)


class YoloDetector:
    """Detections (label, score, normalised box) for batches of pictures, through `ultralytics.YOLO`."""

    def __init__(
        self,
        model: str = DEFAULT_YOLO,
        *,
        device: str = "cpu",
        iou: float = 0.7,
        classes: list[str] | None = None,
        imgsz: int = 640,
        runtime: str = "eager",
        cache_dir: Path | None = None,
        half: bool = False,
    ) -> None:
        from chronicon.runtime.device import warn_once

        try:
            import ultralytics
        except ImportError as exc:
            raise ModelUnavailableError("the YOLO detector needs ultralytics (pip install ultralytics)") from exc
        YOLO: Any = getattr(ultralytics, "YOLO")  # noqa: B009 - not re-exported in its stubs
        source = str(Path(model).expanduser()) if Path(model).expanduser().exists() else model
        try:
            self.model: Any = YOLO(source)
        except Exception as exc:  # ultralytics raises many kinds (download, format, file errors)
            raise ModelUnavailableError(f"cannot load the YOLO model {model!r}: {exc}") from exc
        self.device = device
        self.half = half and device.startswith("cuda")  # fp16 inference: CUDA only
        if runtime == "tensorrt":
            if device.startswith("cuda") and Path(source).suffix == ".pt":
                self.model = YOLO(self._engine(source, device, imgsz, cache_dir))
            elif not source.endswith(".engine"):
                warn_once("yolo:tensorrt", f"YOLO TensorRT engines need CUDA; running {model} on {device} instead")
        self.names: dict[int, str] = {int(k): str(v) for k, v in dict(self.model.names).items()}
        wanted = {c.strip().lower() for c in classes or [] if c.strip()}
        self.classes = [i for i, name in self.names.items() if name.lower() in wanted] if wanted else None
        if wanted and not self.classes:
            raise ModelUnavailableError(f"none of the classes {sorted(wanted)} is known to {model}")
        self.iou = iou
        self.imgsz = imgsz
        self.input_side = imgsz
        self._lock = threading.Lock()

    def _engine(self, source: str, device: str, imgsz: int, cache_dir: Path | None) -> str:
        """ultralytics' own TensorRT export (FP16), cached by the weights' content."""
        digest = hashlib.sha1(Path(source).read_bytes()).hexdigest()[:12]
        name = f"{Path(source).stem}-{digest}-{imgsz}-b{ENGINE_BATCH}.engine"
        target = (cache_dir or Path(source).parent) / "tensorrt" / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            # dynamic=True with `batch` = the largest batch the engine takes (ultralytics builds max batch 1
            # without it); detect() never hands it more than ENGINE_BATCH images at once.
            exported = Path(
                self.model.export(
                    format="engine", half=True, imgsz=imgsz, device=device, dynamic=True, batch=ENGINE_BATCH
                )
            )
            exported.replace(target)
        return str(target)

    def prepare(self, image: Image.Image) -> NDArray[np.uint8]:
        """The picture as ultralytics takes numpy input: BGR, longest side at most imgsz (it letterboxes)."""
        copy = image.convert("RGB")
        copy.thumbnail((self.imgsz, self.imgsz))
        return np.ascontiguousarray(np.asarray(copy, dtype=np.uint8)[..., ::-1])

    def detect(self, images: list[NDArray[np.uint8]], min_score: float) -> list[list[Detection]]:
        if not images:
            return []
        if not self.device.startswith("cuda") and len(images) > 1:
            # On CPU ultralytics is faster image by image than on a batch (benchmarks/detect_bench.py).
            return [self.detect([image], min_score)[0] for image in images]
        if len(images) > ENGINE_BATCH:  # (a TensorRT engine takes at most ENGINE_BATCH; the same for all)
            return [d for start in range(0, len(images), ENGINE_BATCH)
                    for d in self.detect(images[start : start + ENGINE_BATCH], min_score)]  # fmt: skip
        with self._lock:
            results = self.model.predict(
                images, conf=min_score, iou=self.iou, classes=self.classes, imgsz=self.imgsz,
                device=self.device, verbose=False, half=self.half,
            )  # fmt: skip
        out: list[list[Detection]] = []
        for result in results:
            boxes = result.boxes
            found = [
                Detection(self.names.get(int(c), str(int(c))), float(s), tuple(float(min(max(v, 0.0), 1.0)) for v in b))  # type: ignore[arg-type]
                for b, c, s in zip(boxes.xyxyn.tolist(), boxes.cls.tolist(), boxes.conf.tolist(), strict=True)
            ]
            found.sort(key=lambda d: -d.score)
            out.append(found)
        return out
