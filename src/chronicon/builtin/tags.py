"""Built-in ML pass `tags`: ImageNet tagger + COCO detector -> labels, detections and the offline ConSE vector."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from chronicon.analyzers.base import VECTORS_KEY, Analyzer, AssetItem, Outcome
from chronicon.analyzers.inputs import segment_pictures, square_array
from chronicon.analyzers.spaces import RankedHit, SpaceEncoder, TextList, VectorSpace
from chronicon.config import Setting
from chronicon.embed.conse import ConceptSpace, merge_scores
from chronicon.embed.packaged import OPENPIBO, package_dir
from chronicon.embed.text import DEFAULT_TEXT_MODEL, TextEmbedder, resolve_text_model, shared_text_embedder
from chronicon.errors import ModelUnavailableError
from chronicon.hookspecs import hookimpl
from chronicon.runtime.backends import RUNTIME_SETTINGS
from chronicon.types import MediaKind, Phase

PLUGIN_NAME = "tags"
CONSE_SUFFIX = ":conse"  # ConSE image vectors live in the text model's space, in a table of their own


def conse_space(text_space: str) -> str:
    return text_space + CONSE_SUFFIX


class TagsPass(Analyzer):
    """Labels every photo and video poster with ImageNet classes and COCO objects, and embeds it by ConSE."""

    name: ClassVar[str] = "tags"
    version: ClassVar[int] = 3
    phase: ClassVar[Phase] = Phase.ML
    kinds: ClassVar[frozenset[MediaKind]] = frozenset(MediaKind)
    uses: ClassVar[tuple[str, ...]] = ("shots",)
    batch_size: ClassVar[int] = 16
    model_names: ClassVar[tuple[str, ...]] = ("imagenet-tagger", "ssd-detector", "yolo-detector", "text-embedder")
    columns: ClassVar[dict[str, pa.DataType]] = {
        "labels": pa.list_(pa.string()),  # best first
        "label_scores": pa.list_(pa.float64()),
        "labels_text": pa.string(),  # the labels as one string, for full-text search
        "detections": pa.string(),  # JSON [{"label", "score", "box": [x0, y0, x1, y1] (fractions)}] (poster)
        "segment_labels": pa.string(),  # videos: JSON {"<segment index>": [[label, score], ...]}
        "segment_detections": pa.string(),  # videos: JSON {"<segment index>": [detection, ...]} (its first frame)
        # Objects counted in one picture (the most of any frame of a video), as "person#1", "person#2", ...:
        # `--min-count person=3` is then array_has(object_counts, 'person#3'), answered by a label-list index.
        "object_counts": pa.list_(pa.string()),
    }
    settings: ClassVar[dict[str, Setting]] = {
        "top_k": Setting("int", 5, minimum=1, maximum=50),
        "min_score": Setting("float", 0.05, minimum=0.0, maximum=1.0),
        "detector": Setting("bool", True),
        "detector_min_score": Setting("float", 0.5, minimum=0.0, maximum=1.0),
        # ssd = the offline SSD-MobileNet COCO model (OpenCV dnn); yolo = ultralytics with `detector_model`.
        "detector_backend": Setting("str", "ssd", choices=("ssd", "yolo")),
        "detector_model": Setting("str", "yolov8n.pt"),
        "detector_iou": Setting("float", 0.7, minimum=0.0, maximum=1.0),
        "detector_classes": Setting("list", []),
        # Older names, still read: a device or runtime set here wins for the detector over `device`/`backend`.
        "detector_device": Setting("str", "auto", help="(older name) the detector's device; prefer `device`"),
        "detector_runtime": Setting(
            "str", "eager", choices=("eager", "tensorrt"), help="(older name) tensorrt = `backend: tensorrt`"
        ),
        "detector_imgsz": Setting("int", 640, minimum=32, maximum=4096),
        "text_model": Setting("str", DEFAULT_TEXT_MODEL),
        "conse": Setting("bool", True),
        # ConSE weights are score ** conse_power: above 1 the confident labels dominate the vector (a weak label
        # pulls it less), 1 = the scores as they are (Norouzi et al.).
        "conse_power": Setting("float", 1.0, minimum=0.1, maximum=8.0),
        "segment_pooling": Setting(
            "str",
            "mean",
            choices=("labels", "mean"),
            help="a video shot's ConSE vector: from the labels of all its frames (best score each), or the mean "
            "of its frames' own vectors",
        ),
        **RUNTIME_SETTINGS,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tagger: Any = None
        self.detector: Any = None
        self.concepts: ConceptSpace | None = None
        self.text: TextEmbedder | None = None
        self._prepare_lock = threading.Lock()
        self._probe: tuple[str] | None = None  # cached _detector_problem() ("" = no problem)

    def unavailable(self) -> str | None:
        if package_dir(OPENPIBO) is None:
            return f"the offline tagger and detector need the package {OPENPIBO!r} (pip install 'chronicon[ml]')"
        if package_dir("ai_edge_litert") is None:
            return "the offline tagger needs ai-edge-litert (pip install 'chronicon[ml]')"
        if self.config.bool("conse"):
            try:
                resolve_text_model(self.config.str("text_model"))
            except ModelUnavailableError as exc:
                return str(exc)
            if package_dir("sentence_transformers") is None:
                return "ConSE vectors need sentence-transformers (pip install 'chronicon[ml]')"
        return None

    def limitations(self) -> list[str]:
        problem = self._detector_problem()
        return [f"the COCO detector (labels come from the ImageNet tagger alone): {problem}"] if problem else []

    def _detector_problem(self) -> str | None:
        """Why the configured offline detector cannot load here (checked without loading it), else None."""
        if not self.config.bool("detector") or self.config.str("detector_backend") == "yolo":
            return None  # (a YOLO model that cannot load falls back to the SSD, and says so when it loads)
        if self._probe is None:
            from chronicon.embed.detector import opencv_problem

            self._probe = (opencv_problem() or "",)
        return self._probe[0] or None

    def fingerprint(self) -> str:
        parts = [str(self.version), "efficientnet-lite3", f"k{self.config.int('top_k')}"]
        parts.append(f"min{self.config.float('min_score')}")
        if self._detector_problem():
            parts.append("no-detector")  # results made without it are redone once OpenCV can run it
        elif self.config.bool("detector"):
            backend = (
                "ssd-coco"
                if self.config.str("detector_backend") != "yolo"
                else "yolo-" + self.config.str("detector_model")
            )
            parts.append(f"{backend}@{self.config.float('detector_min_score')}")
        if self.config.bool("conse"):
            parts.append(resolve_text_model(self.config.str("text_model"))[1])
            if self.config.float("conse_power") != 1.0:
                parts.append(f"p{self.config.float('conse_power')}")
            if self.config.str("segment_pooling") != "mean":  # (one-frame shots: the same either way)
                parts.append(self.config.str("segment_pooling"))
        return ":".join(parts)

    def runtime_models(self) -> tuple[str, ...]:
        models = ["imagenet-tagger"]
        if self.config.bool("detector"):
            models.append("yolo-detector" if self.config.str("detector_backend") == "yolo" else "ssd-detector")
        if self.config.bool("conse"):
            models.append("text-embedder")
        return tuple(models)

    def _load(self) -> None:
        from chronicon.embed.detector import CocoDetector
        from chronicon.embed.tagger import ImageNetTagger

        self.tagger = ImageNetTagger(threads=self.runtime_choice("imagenet-tagger").threads)
        if self.config.bool("detector"):
            try:
                self.detector = self._detector(CocoDetector)
            except ModelUnavailableError as exc:
                # The tagger alone still labels and embeds every photo: run without the detector, one note.
                self.detector = None
                if not self._detector_problem():  # else limitations() already said so, and fingerprint knows
                    self.degrade(f"the COCO detector, which could not load: {exc}")
        if self.config.bool("conse"):
            self.load_text_side()

    def _detector(self, offline: Any) -> Any:
        """The configured detector; a YOLO model that cannot load falls back to the offline one (one warning)."""
        legacy: dict[str, Any] = {}
        if self.config.str("detector_device") not in ("", "auto"):
            legacy["device"] = self.config.str("detector_device")
        if self.config.str("detector_runtime") == "tensorrt":
            legacy["backend"] = "tensorrt"
        if self.config.str("detector_backend") != "yolo":
            self.runtime_choice("ssd-detector", **legacy)
            return offline()
        from chronicon.embed.yolo import YoloDetector
        from chronicon.runtime.device import warn_once

        model = self.config.str("detector_model")
        choice = self.runtime_choice("yolo-detector", **legacy)
        try:
            return YoloDetector(
                model,
                device=choice.device,
                half=choice.precision == "fp16",
                iou=self.config.float("detector_iou"),
                classes=self.config.list("detector_classes"),
                imgsz=self.config.int("detector_imgsz"),
                runtime="tensorrt" if choice.backend == "tensorrt" else "eager",
                cache_dir=self.context.model_cache_dir,
            )
        except ModelUnavailableError as exc:
            warn_once(f"yolo:{model}", f"{exc}; using the offline SSD-MobileNet detector instead")
            return offline()

    def load_text_side(self) -> None:
        """The text model and the class-name vectors only: all a text query needs (no image models)."""
        with self._prepare_lock:
            if self.concepts is not None:
                return
            from chronicon.embed.detector import COCO_LABELS
            from chronicon.embed.packaged import tagger_files
            from chronicon.embed.tagger import clean_label

            self.text = shared_text_embedder(self.config.str("text_model"), cache_dir=self.context.model_cache_dir)
            synonyms = [s.strip() for s in tagger_files()[1].read_text(encoding="utf-8").splitlines() if s.strip()]
            names = [clean_label(s) for s in synonyms]
            texts = [", ".join(part.strip() for part in s.split(",")) for s in synonyms]
            for label in COCO_LABELS.values():
                if label not in names:
                    names.append(label)
                    texts.append(label)
            self.concepts = ConceptSpace(self.text, names, texts, "imagenet-coco")

    def picture_side(self, item: AssetItem) -> int:
        return 300

    def prepare(self, item: AssetItem) -> Any:
        self.load()
        limit = self.context.scan_section.int("max_image_pixels")
        inputs = []
        for pic in segment_pictures(item, self.picture_side(item), max_pixels=limit):
            tag_input = square_array(pic.image, self.tagger.input_side)
            det_input = None
            if self.detector is not None:
                prep = getattr(self.detector, "prepare", None)
                det_input = prep(pic.image) if prep is not None else square_array(pic.image, 300)
            inputs.append((pic.segment, tag_input, det_input))  # (the segment, not its big picture)
        return inputs

    def _run(self, items: Sequence[AssetItem]) -> list[Outcome]:
        top_k = self.config.int("top_k")
        min_score = self.config.float("min_score")
        frames = [(n, entry) for n, item in enumerate(items) for entry in item.cache[self.input_key]]
        detections: list[list[Any]] = [[] for _ in frames]
        if self.detector is not None:
            threshold = self.config.float("detector_min_score")
            for start in range(0, len(frames), 16):
                chunk = [entry[2] for _, entry in frames[start : start + 16]]
                detections[start : start + len(chunk)] = self.detector.detect(chunk, threshold)
        per_item: list[list[tuple[Any, dict[str, float], list[Any]]]] = [[] for _ in items]
        failures: dict[int, Exception] = {}
        for (n, (pic, tag_input, _)), found in zip(frames, detections, strict=True):
            try:
                # ConSE weighs the top-k classes whatever their probability; labels keep the confident ones.
                ranked = {self.tagger.labels[i]: p for i, p in self.tagger.top(tag_input, top_k, 0.0)}
                objects: dict[str, float] = {}
                for det in found:
                    objects[det.label] = max(det.score, objects.get(det.label, 0.0))
                per_item[n].append((pic, merge_scores(ranked, objects), found))
            except Exception as exc:  # per-item boundary
                failures[n] = exc
        outcomes: list[Outcome] = []
        for n, item in enumerate(items):
            if n in failures:
                outcomes.append(failures[n])
                continue
            outcomes.append(self._columns(item, per_item[n], min_score))
        return outcomes

    def _columns(
        self, item: AssetItem, frames: list[tuple[Any, dict[str, float], list[Any]]], min_score: float
    ) -> Outcome:
        """Asset labels (everything seen, best score per label), per-segment labels, and ConSE vectors."""
        by_segment: dict[int, tuple[Any, dict[str, float], set[str]]] = {}
        all_objects: set[str] = set()
        for pic, weights, found in frames:
            _, merged, objects = by_segment.get(pic.index, (pic, {}, set()))
            by_segment[pic.index] = (pic, merge_scores(merged, weights), objects | {d.label for d in found})
            all_objects |= {d.label for d in found}
        overall = merge_scores(*(w for _, w, _ in by_segment.values()))
        scores = {label: s for label, s in overall.items() if s >= min_score or label in all_objects}
        poster_detections = frames[0][2] if frames else []
        most: dict[str, int] = {}
        for _, _, found in frames:
            for label, count in Counter(d.label for d in found).items():
                most[label] = max(count, most.get(label, 0))
        columns: dict[str, Any] = {
            "labels": list(scores),
            "label_scores": [round(s, 4) for s in scores.values()],
            "labels_text": " ".join(scores) or None,
            "detections": json.dumps([_detection_json(d) for d in poster_detections]),
            "object_counts": [f"{label}#{n}" for label, count in sorted(most.items()) for n in range(1, count + 1)],
        }
        if item.kind == MediaKind.VIDEO:
            columns["segment_labels"] = json.dumps(
                {
                    str(index): [[lab, round(s, 4)] for lab, s in weights.items() if s >= min_score or lab in objs]
                    for index, (_, weights, objs) in sorted(by_segment.items())
                    if index > 0
                }
            )
            first: dict[int, list[Any]] = {}
            for pic, _, found in frames:
                if pic.index > 0 and pic.index not in first:
                    first[pic.index] = [_detection_json(d) for d in found]
            columns["segment_detections"] = json.dumps({str(k): v for k, v in sorted(first.items())})
        if self.concepts is not None and self.text is not None:
            from chronicon.catalog.vectors import VectorRow, pooled_row

            power = self.config.float("conse_power")

            def conse(chosen: dict[str, float]) -> Any:
                assert self.concepts is not None
                return self.concepts.combine({k: v**power for k, v in chosen.items()} if power != 1.0 else chosen)

            rows: list[Any] = []
            for index, (pic, weights, _) in sorted(by_segment.items()):
                # A shot's vector: the concepts of everything seen in its frames (best score per label); each of
                # its frames' own vectors is kept too, so a hit can point at the frame that matched.
                vector = conse(overall if index == 0 else weights)
                if vector is None:
                    continue
                frame_vectors: list[tuple[float, Any]] = []
                if index > 0:
                    for frame_pic, frame_weights, _ in frames:
                        v = conse(frame_weights) if frame_pic.index == index and frame_pic.t is not None else None
                        if v is not None:
                            frame_vectors.append((float(frame_pic.t), np.asarray(v, dtype=np.float32)))
                if len(frame_vectors) > 1 and self.config.str("segment_pooling") == "mean":
                    rows.append(pooled_row(item.id, index, frame_vectors, t_start=pic.t_start, t_end=pic.t_end,
                                           content_hash=_hash(item)))  # fmt: skip
                    continue
                rows.append(
                    VectorRow(item.id, np.asarray(vector, dtype=np.float32), segment=index,
                              t_start=pic.t_start, t_end=pic.t_end, content_hash=_hash(item),
                              frames=frame_vectors or None)
                )  # fmt: skip
            if rows:
                columns[VECTORS_KEY] = {conse_space(self.text.space): (int(rows[0].vector.shape[0]), rows)}
        return columns


def _detection_json(det: Any) -> dict[str, Any]:
    return {"label": det.label, "score": round(det.score, 4), "box": [round(v, 4) for v in det.box]}


def _hash(item: AssetItem) -> str | None:
    value = item.row.get("content_hash")
    return str(value) if value else None


class ConseEncoder(SpaceEncoder):
    """Text queries embedded by the text model; images through the tagger, as the scan did (ConSE)."""

    kind = "conse"

    def __init__(self, analyzer: TagsPass, space: str) -> None:
        super().__init__(analyzer)
        self.tags = analyzer
        self.space = space

    def encode_texts(self, texts: list[str]) -> NDArray[np.float32]:
        self.tags.load_text_side()
        assert self.tags.text is not None
        out: NDArray[np.float32] = self.tags.text.embed(texts)
        return out

    def explain(self, query: NDArray[np.float32], row: dict[str, Any], segment: int) -> list[str]:
        """The asset's labels that brought it close to the query: similarity to the query × label score."""
        self.tags.load_text_side()
        concepts = self.tags.concepts
        if concepts is None:
            return []
        labels, scores = labels_of(row, segment)
        parts: list[tuple[float, str]] = []
        for label, score in zip(labels, scores, strict=False):
            index = concepts.index.get(label)
            if index is None:
                continue
            similarity = float(concepts.vectors[index] @ query)
            parts.append((similarity * score, f"{label} ({score:.2f})"))
        parts.sort(key=lambda p: -p[0])
        return [text for weight, text in parts[:3] if weight > 0]


def labels_of(row: dict[str, Any], segment: int) -> tuple[list[str], list[float]]:
    """The labels of the matched video segment when there is one, else the asset's."""
    if segment > 0 and row.get("segment_labels"):
        try:
            pairs = json.loads(row["segment_labels"]).get(str(segment)) or []
            return [str(p[0]) for p in pairs], [float(p[1]) for p in pairs]
        except (ValueError, AttributeError, IndexError, TypeError):
            pass
    return list(row.get("labels") or []), list(row.get("label_scores") or [])


def _conse_encoder(tags: TagsPass) -> ConseEncoder | None:
    if not tags.config.bool("conse"):
        return None
    try:
        text_space = resolve_text_model(tags.config.str("text_model"))[1]
    except ModelUnavailableError:
        return None
    return ConseEncoder(tags, conse_space(text_space))


def mentions(label: str, words: list[str]) -> bool:
    """Whether a label contains one of the query words (or a word starting like it: "cats" ~ "cat")."""
    tokens = label.lower().split()
    return any(w in tokens or any(t.startswith(w[: max(3, len(w) - 1)]) for t in tokens) for w in words)


def _describe_labels(hit: RankedHit) -> str:
    matched = [lab for lab in (hit.row.get("labels") or []) if mentions(lab, hit.words)]
    return "labels match: " + ", ".join(matched[:3]) if matched else f"label match (#{hit.rank})"


@hookimpl
def chronicon_register_analyzers() -> list[type[Analyzer]]:
    return [TagsPass]


@hookimpl
def chronicon_register_spaces() -> list[VectorSpace | TextList]:
    return [
        VectorSpace(
            "conse",
            owner="tags",
            encoder=_conse_encoder,
            help="offline: tagger and detector labels mapped into the text model's space (ConSE)",
            priority=20,
        ),
        TextList("labels", _describe_labels, column="labels_text"),
    ]
