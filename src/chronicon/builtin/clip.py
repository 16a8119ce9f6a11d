"""Built-in ML pass `clip`: CLIP image vectors (open_clip), stored per model so spaces never mix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from chronicon.analyzers.base import VECTORS_KEY, Analyzer, AssetItem, Outcome
from chronicon.analyzers.inputs import center_crop_array, segment_pictures
from chronicon.analyzers.spaces import SpaceEncoder, VectorSpace
from chronicon.config import Section, Setting
from chronicon.embed.clip import DEFAULT_CLIP_MODEL, DEFAULT_CLIP_PRETRAINED, ClipModel, ClipSpec, weights_problem
from chronicon.embed.packaged import package_dir
from chronicon.hookspecs import hookimpl
from chronicon.runtime.backends import RUNTIME_SETTINGS
from chronicon.types import MediaKind, Phase

PLUGIN_NAME = "clip"


def clip_spec(config: Section) -> ClipSpec:
    return ClipSpec(config.str("model") or DEFAULT_CLIP_MODEL, config.optional_str("pretrained"))


class ClipPass(Analyzer):
    """Embeds every photo and video poster with the configured CLIP image tower."""

    name: ClassVar[str] = "clip"
    version: ClassVar[int] = 2
    phase: ClassVar[Phase] = Phase.ML
    kinds: ClassVar[frozenset[MediaKind]] = frozenset(MediaKind)
    uses: ClassVar[tuple[str, ...]] = ("shots",)
    batch_size: ClassVar[int] = 32
    model_names: ClassVar[tuple[str, ...]] = ("clip-image",)
    settings: ClassVar[dict[str, Setting]] = {
        "model": Setting("str", DEFAULT_CLIP_MODEL),
        "pretrained": Setting("str", DEFAULT_CLIP_PRETRAINED, nullable=True),
        **RUNTIME_SETTINGS,
        "measure_from": Setting(
            "int",
            500,
            minimum=0,
            help="a fully automatic choice on the CPU times int8 against itself only in a scan of at least this "
            "many photos and videos (exporting and quantizing ViT-B-32 takes about a minute on 2 cores; int8 "
            "saves 0.1-0.15 s a photo there); a decision measured before is always used",
        ),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spec = clip_spec(self.config)
        self.clip: ClipModel | None = None

    def unavailable(self) -> str | None:
        for module, what in (("torch", "torch"), ("open_clip", "open_clip_torch")):
            if package_dir(module) is None:
                return f"CLIP needs {what} (pip install 'chronicon[ml]')"
        problem = weights_problem(self.spec)
        if problem is None:
            from chronicon.embed.clip import DownloadMemo

            failure = DownloadMemo(self.context.model_cache_dir, self.spec.space).recent_failure()
            if failure and self.spec.local_dir is None and self.spec.checkpoint_file is None:
                problem = f"CLIP weights could not be downloaded ({failure}); retried after a day"
        if problem:
            return problem + "; set clip.model/clip.pretrained to local weights, or clip.enabled: false"
        return None

    def fingerprint(self) -> str:
        return f"{self.version}:{self.spec.space}"

    def _load(self) -> None:
        choice = self.runtime_choice("clip-image")
        self.clip = ClipModel(
            self.spec,
            device=choice.device,
            backend=choice.backend,
            precision=choice.precision,
            cache_dir=self.context.model_cache_dir,
            threads=choice.threads,
            batch_size=choice.batch_size,
            alternatives=choice.alternatives,
            measure=(self.expected_items or 0) >= self.config.int("measure_from"),
        )
        size = choice.batch_size
        if size is None:  # "auto" on a GPU: grow until memory runs out, then back off
            from chronicon.runtime.batching import auto_batch_size

            runner = self.clip.image_runner()
            side = self.clip.image_size
            size = auto_batch_size(lambda n: runner(np.zeros((n, 3, side, side), np.float32)), start=16, maximum=1024)
        self.batch_size = size  # type: ignore[misc]  # per-instance batch size from config
        if choice.threads > 0:
            import torch

            torch.set_num_threads(choice.threads)

    def reuse(self, items: Sequence[AssetItem]) -> dict[str, dict[str, Any]]:
        catalog = self.context.catalog
        if catalog is None:
            return {}
        table = catalog.open_vector_table(self.spec.space)
        if table is None:
            return {}
        stored = table.vectors_for([i.id for i in items])
        reused: dict[str, dict[str, Any]] = {}
        for item in items:
            rows = stored.get(item.id)
            digest = item.row.get("content_hash")
            if rows and digest and all(r.content_hash == digest for r in rows):
                reused[item.id] = {}  # the vectors are in the table already
        return reused

    def picture_side(self, item: AssetItem) -> int:
        return self.clip.image_size if self.clip is not None else 224

    def prepare(self, item: AssetItem) -> Any:
        self.load()
        assert self.clip is not None
        side = self.clip.image_size
        limit = self.context.scan_section.int("max_image_pixels")
        pictures = segment_pictures(item, side, max_pixels=limit)
        return [(pic.segment, center_crop_array(pic.image, side)) for pic in pictures]  # (not the big picture)

    def _run(self, items: Sequence[AssetItem]) -> list[Outcome]:
        assert self.clip is not None
        from chronicon.catalog.vectors import pooled_row

        frames = [(n, pic, arr) for n, item in enumerate(items) for pic, arr in item.cache[self.input_key]]
        step = max(1, self.batch_size)
        vectors = np.concatenate(
            [self.clip.encode_images([arr for _, _, arr in frames[i : i + step]]) for i in range(0, len(frames), step)]
        )
        outcomes: list[Outcome] = []
        for n, item in enumerate(items):
            mine = [(pic, vectors[i]) for i, (m, pic, _) in enumerate(frames) if m == n]
            by_segment: dict[int, list[Any]] = {}
            for pic, vector in mine:
                by_segment.setdefault(pic.index, []).append((pic, vector))
            digest = item.row.get("content_hash")
            rows = []
            for index, entries in sorted(by_segment.items()):
                pic = entries[0][0]
                # The video as a whole (segment 0) is the mean of everything seen in it; a shot, of its frames.
                seen = mine if index == 0 and item.kind == MediaKind.VIDEO else entries
                timed: list[tuple[float | None, Any]] = [(p.t if index > 0 else None, v) for p, v in seen]
                rows.append(
                    pooled_row(item.id, index, timed,
                               t_start=pic.t_start, t_end=pic.t_end, content_hash=str(digest) if digest else None)
                )  # fmt: skip
            outcomes.append({VECTORS_KEY: {self.spec.space: (int(vectors.shape[1]), rows)}})
        return outcomes


class ClipEncoder(SpaceEncoder):
    """Text and image queries through the CLIP towers that embedded the library."""

    kind = "clip"

    def __init__(self, analyzer: ClipPass) -> None:
        super().__init__(analyzer)
        self.clip_pass = analyzer
        self.space = analyzer.spec.space

    def encode_texts(self, texts: list[str]) -> NDArray[np.float32]:
        self.clip_pass.load()
        assert self.clip_pass.clip is not None
        out: NDArray[np.float32] = self.clip_pass.clip.encode_texts(texts)
        return out


@hookimpl
def chronicon_register_analyzers() -> list[type[Analyzer]]:
    return [ClipPass]


@hookimpl
def chronicon_register_spaces() -> list[VectorSpace]:
    return [
        VectorSpace(
            "clip",
            owner="clip",
            encoder=ClipEncoder,
            help="open_clip image vectors (photos, posters, video segments)",
            priority=10,
        )
    ]
