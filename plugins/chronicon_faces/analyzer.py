"""The `faces` pass: faces of photos and of videos' shots -> face_count, faces JSON, descriptors and crops."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
from PIL import Image

from chronicon.api import (
    VECTORS_KEY,
    AssetItem,
    MediaKind,
    PerItemAnalyzer,
    Phase,
    SegmentPicture,
    Setting,
    VectorRow,
    open_image,
    picture,
    register_heif,
    segment_pictures,
    write_thumbnail,
)
from chronicon.api.models import RUNTIME_SETTINGS

from .detect import FoundFace, detection_array, face_crop, find_faces, grey_array, scan_upsample
from .models import ThreadModels, missing

FACE_SPACE = "dlib-resnet-v1:face"  # the vector table of face descriptors; segment = the face number n
FACE_DIM = 128
CROPS_DIR = "thumbnails/faces"


def descriptor_digest(vector: Any) -> str:
    """16 hex digits of a descriptor's float32 bytes, stored as the face row's `content_hash`: clustering keeps a
    face's person only while face n of the asset is still this very descriptor."""
    return hashlib.sha1(np.ascontiguousarray(vector, dtype=np.float32).tobytes()).hexdigest()[:16]


def crop_path(asset_id: str, n: int) -> str:
    """Where the crop of face n of an asset lives, relative to the catalog folder."""
    return f"{CROPS_DIR}/{asset_id[:2]}/{asset_id}-{n}.webp"


class FacesPass(PerItemAnalyzer):
    """Detects faces (dlib HOG or CNN) in photos and in the sampled frames of each video shot, and embeds each
    with dlib's ResNet face descriptor (128-d; same person below ~0.6 Euclidean distance)."""

    name: ClassVar[str] = "faces"
    version: ClassVar[int] = 1
    phase: ClassVar[Phase] = Phase.ML
    kinds: ClassVar[frozenset[MediaKind]] = frozenset(MediaKind)
    uses: ClassVar[tuple[str, ...]] = ("shots",)
    columns: ClassVar[dict[str, pa.DataType]] = {
        "face_count": pa.int64(),
        # JSON [{"n", "segment", "t", "t_end", "box": [x, y, w, h] (fractions), "score", "crop"}]
        "faces": pa.string(),
    }
    model_names: ClassVar[tuple[str, ...]] = ("hog-face-detector", "mmod-face-detector", "face-embedder")
    settings: ClassVar[dict[str, Setting]] = {
        **RUNTIME_SETTINGS,
        "detector": Setting("str", "hog", choices=("hog", "cnn"), help="hog: fast on CPU; cnn: dlib's MMOD CNN"),
        "frames_per_shot": Setting("int", 3, minimum=1, maximum=16, help="a video shot's frames searched for faces"),
        "upsample": Setting("int", 0, minimum=0, maximum=4, help="times the picture is doubled before detecting"),
        "upsample_small": Setting(
            "bool", True, help="double pictures at most 3/4 of max_side once more (video frames, small photos)"
        ),
        "max_side": Setting("int", 1600, minimum=64, maximum=8192, help="pictures are shrunk to this long side"),
        "grey": Setting("bool", True, help="HOG looks at the grey picture (about 1.4x faster)"),
        "min_size": Setting("int", 40, minimum=1, help="smallest face kept, in px of the shrunk picture"),
        "min_score": Setting("float", 0.4, help="smallest detector score kept (HOG/MMOD raw score)"),
        "jitters": Setting("int", 0, minimum=0, maximum=100, help="re-sampled copies averaged per descriptor"),
        "max_faces": Setting("int", 100, minimum=1, help="most faces kept per asset (best scores)"),
        "crops": Setting("bool", True, help="write a WebP crop of each face under thumbnails/faces/"),
        "crop_size": Setting("int", 128, minimum=16, maximum=1024),
        "cluster_distance": Setting("float", 0.5, minimum=0.0, maximum=2.0, help="same person up to this distance"),
        "min_faces": Setting("int", 1, minimum=1, help="faces a new cluster needs to become a person"),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.models: ThreadModels | None = None

    def unavailable(self) -> str | None:
        return missing()

    def runtime_models(self) -> tuple[str, ...]:
        detector = "mmod-face-detector" if self.config.str("detector") == "cnn" else "hog-face-detector"
        return (detector, "face-embedder")

    def picture_side(self, item: AssetItem) -> int:
        if item.kind == MediaKind.VIDEO:
            return 0  # (it reads shot frames, decoded by segment_pictures at 640 px)
        return self._draft_side(item, self.config.int("max_side"))

    def fingerprint(self) -> str:
        keys = ("detector", "upsample", "max_side", "min_size", "min_score", "jitters", "max_faces")
        # The keys added later count only when on (grey only for HOG: the CNN looks at RGB), so faces found with
        # the earlier settings (upsample 1, max_side 1024, both off) keep their fingerprint and are not redone.
        later = ("upsample_small", "grey") if self.config["detector"] == "hog" else ("upsample_small",)
        on = [f"{k}=True" for k in later if self.config.bool(k)]
        if self.config.int("frames_per_shot") != 3:
            on.append(f"frames_per_shot={self.config.int('frames_per_shot')}")
        return ":".join([str(self.version), "dlib-resnet-v1", *(f"{k}={self.config[k]}" for k in keys), *on])

    def _load(self) -> None:
        register_heif()
        self.models = ThreadModels(self.config.str("detector"))

    def analyze(self, item: AssetItem) -> dict[str, Any]:
        assert self.models is not None
        models = self.models.get()
        max_side = self.config.int("max_side")
        grey = self.config.bool("grey") and models.detector_kind == "hog"
        per_picture: list[tuple[SegmentPicture, Image.Image, list[FoundFace]]] = []
        for pic in self._pictures(item, max_side):
            shrunk, rgb = detection_array(pic.image, max_side)
            upsample = scan_upsample(
                max(shrunk.size), max_side, self.config.int("upsample"), self.config.bool("upsample_small")
            )
            found = find_faces(
                models,
                rgb,
                upsample=upsample,
                min_size=self.config.int("min_size"),
                min_score=self.config.float("min_score"),
                jitters=self.config.int("jitters"),
                grey=grey_array(shrunk) if grey else None,
            )
            per_picture.append((pic, shrunk, found))
        return self._columns(item, self._dedupe(per_picture))

    def _pictures(self, item: AssetItem, max_side: int) -> list[SegmentPicture]:
        """The photo at detection size; or a video's shot frames (its poster when it has no shots)."""
        if item.kind != MediaKind.VIDEO:
            return [SegmentPicture(0, None, None, self._photo(item, max_side))]
        limit = self.context.scan_section.int("max_image_pixels")
        per_shot = self.config.int("frames_per_shot")
        pictures = segment_pictures(item, min(max_side, 640), max_pixels=limit, per_segment=per_shot)
        shots = [p for p in pictures if p.index > 0]
        return shots or pictures[:1]

    @staticmethod
    def _draft_side(item: AssetItem, max_side: int) -> int:
        """The shorter side of the photo when its long side is `max_side` (`max_side` when its size is unknown)."""
        width, height = int(item.row.get("width") or 0), int(item.row.get("height") or 0)
        if width and height:
            return math.ceil(max_side * min(width, height) / max(width, height))
        return max_side

    def _photo(self, item: AssetItem, max_side: int) -> Image.Image:
        """The photo as this scan decoded it once for all its passes (planned from `picture_side`) when it is
        big enough, else decoded again at the smallest JPEG scale whose long side still reaches `max_side`."""
        limit = self.context.scan_section.int("max_image_pixels")
        draft = self._draft_side(item, max_side)
        shared = picture(item, draft, max_pixels=limit)
        if max(shared.size) >= max_side or item.cache.get("image_full"):
            return shared
        return open_image(item.path, max_pixels=limit, draft_size=draft)

    def _dedupe(
        self, per_picture: list[tuple[SegmentPicture, Image.Image, list[FoundFace]]]
    ) -> list[tuple[SegmentPicture, Image.Image, FoundFace]]:
        """All faces, except that a face seen again in another frame of the same shot counts once (best kept)."""
        limit = self.config.float("cluster_distance")
        kept: list[tuple[SegmentPicture, Image.Image, FoundFace]] = []
        for pic, shrunk, found in per_picture:
            for face in found:
                twin = next(
                    (
                        i
                        for i, (other_pic, _, other) in enumerate(kept)
                        if other_pic.index == pic.index
                        and pic.index > 0
                        and float(np.linalg.norm(other.descriptor - face.descriptor)) <= limit
                    ),
                    None,
                )
                if twin is None:
                    kept.append((pic, shrunk, face))
                elif face.score > kept[twin][2].score:
                    kept[twin] = (pic, shrunk, face)
        most = self.config.int("max_faces")
        if len(kept) > most:
            best = sorted(range(len(kept)), key=lambda i: -kept[i][2].score)[:most]
            kept = [kept[i] for i in sorted(best)]
        return kept

    def _columns(self, item: AssetItem, faces: list[tuple[SegmentPicture, Image.Image, FoundFace]]) -> dict[str, Any]:
        crops = self.config.bool("crops")
        entries: list[dict[str, Any]] = []
        rows: list[VectorRow] = []
        for n, (pic, shrunk, face) in enumerate(faces, start=1):
            w, h = shrunk.size
            entry: dict[str, Any] = {
                "n": n,
                "segment": pic.index,
                "t": pic.t_start,
                "t_end": pic.t_end,
                "box": [round(face.left / w, 4), round(face.top / h, 4), round(face.width / w, 4),
                        round(face.height / h, 4)],
                "score": round(face.score, 4),
            }  # fmt: skip
            if crops:
                relative = crop_path(item.id, n)
                write_thumbnail(
                    face_crop(shrunk, face),
                    self.context.catalog_dir / relative,
                    size=self.config.int("crop_size"),
                    quality=80,
                )
                entry["crop"] = relative
            entries.append(entry)
            rows.append(
                VectorRow(item.id, face.descriptor, segment=n, t_start=pic.t_start, t_end=pic.t_end,
                          content_hash=descriptor_digest(face.descriptor))
            )  # fmt: skip
        columns: dict[str, Any] = {"face_count": len(entries), "faces": json.dumps(entries)}
        # Always given, empty included: the scan commit then also drops the rows of faces no longer found.
        columns[VECTORS_KEY] = {FACE_SPACE: (FACE_DIM, rows)}
        return columns
