"""The ML pass `extract`: a schema's fields from each photo, or from a video's poster and shot frames."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

import pyarrow as pa
from PIL import Image

from chronicon.analyzers.base import AssetItem, PerItemAnalyzer
from chronicon.analyzers.inputs import segment_pictures
from chronicon.config import Setting
from chronicon.embed.captioner import DEFAULT_VLM, weights_problem
from chronicon.embed.packaged import package_dir
from chronicon.errors import ModelUnavailableError
from chronicon.types import MediaKind, Phase

from .extractor import MODES, Extraction, Extractor
from .schema import Schema, SchemaError, load_schema
from .terms import load_terms, readable

NO_SCHEMA = "set extract.schema to a schema file (see docs/extraction.md)"


def resolve_settings(section: Mapping[str, Any], whole: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The extract section with its fallbacks filled in: `model` unset means `caption.model`, `terminology` unset
    means `eval.terminology` (when the whole config is at hand), else the default captioning model."""
    out = dict(section)
    whole = whole or {}
    out["model"] = out.get("model") or whole.get("caption.model") or DEFAULT_VLM
    out["terminology"] = out.get("terminology") or whole.get("eval.terminology")
    return out


def pick_frames(pictures: list[Image.Image], limit: int) -> list[Image.Image]:
    """At most `limit` pictures, evenly spread, always the first (the photo or the video's poster)."""
    if len(pictures) <= limit:
        return pictures
    if limit == 1:
        return pictures[:1]
    return [pictures[round(i * (len(pictures) - 1) / (limit - 1))] for i in range(limit)]


class ExtractPass(PerItemAnalyzer):
    """Fills in a YAML schema's fields for each asset with a vision-language model."""

    name: ClassVar[str] = "extract"
    version: ClassVar[int] = 1
    phase: ClassVar[Phase] = Phase.ML
    kinds: ClassVar[frozenset[MediaKind]] = frozenset(MediaKind)
    uses: ClassVar[tuple[str, ...]] = ("shots",)
    columns: ClassVar[dict[str, pa.DataType]] = {
        "extracted": pa.string(),  # JSON {field: value}
        "extract_flags": pa.list_(pa.string()),  # what did not fit: "weather: 'misty' not allowed", "retried 2"
        "extract_schema": pa.string(),  # name@hash of the schema the values follow
        "extract_text": pa.string(),  # "field: value" lines
    }
    settings: ClassVar[dict[str, Setting]] = {
        "schema": Setting("path", None, nullable=True, help="the schema YAML (see docs/extraction.md)"),
        "model": Setting("str", None, nullable=True, help="a transformers VLM; unset: the captioning model"),
        "mode": Setting("str", "constrained", choices=MODES, help="constrained (scored values) or json"),
        "max_new_tokens": Setting("int", 256, minimum=1, maximum=4096),
        "retries": Setting("int", 2, minimum=0, maximum=10, help="json mode: stricter re-asks after a bad answer"),
        "terminology": Setting("path", None, nullable=True, help="{canonical: [synonyms]}; unset: eval.terminology"),
        "device": Setting("str", "auto"),
        "quantization": Setting("str", "auto", choices=("auto", "4bit", "none")),
        "lora": Setting("str", None, nullable=True),
        "resize": Setting("int", 384, minimum=32, maximum=4096, help="longest side of the pictures shown"),
        "frames": Setting("int", 4, minimum=1, maximum=32, help="videos: poster and shot frames shown at most"),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.options = resolve_settings(self.config, self.context.settings)
        self.extractor: Extractor | None = None
        self._schema: Schema | None = None
        self._terms: tuple[dict[str, str], str] | None = None

    # -- configuration ------------------------------------------------------------------------------------
    @property
    def schema(self) -> Schema:
        if self._schema is None:
            if not self.options.get("schema"):
                raise SchemaError(NO_SCHEMA)
            self._schema = load_schema(str(self.options["schema"]))
        return self._schema

    @property
    def terms(self) -> tuple[dict[str, str], str]:
        if self._terms is None:
            self._terms = load_terms(self.options.get("terminology"))
        return self._terms

    def _memo(self) -> Any:
        from chronicon.embed.clip import DownloadMemo

        return DownloadMemo(self.context.model_cache_dir, "vlm-" + str(self.options["model"]).replace("/", "--"))

    def unavailable(self) -> str | None:
        try:
            _ = self.schema, self.terms
        except SchemaError as exc:
            return str(exc)
        for module in ("torch", "transformers"):
            if package_dir(module) is None:
                return f"extraction needs {module} (pip install 'chronicon[ml]')"
        model = str(self.options["model"])
        problem = weights_problem(model)
        if problem is None:
            failure = self._memo().recent_failure()
            if failure:
                problem = f"the model could not be loaded ({failure}); retried after a day"
        return problem + "; set extract.model to a local model folder, or extract.enabled: false" if problem else None

    def fingerprint(self) -> str:
        o = self.options
        try:
            schema, terms = self.schema.signature, self.terms[1]
        except SchemaError:
            schema, terms = "unavailable", ""
        return (
            f"{self.version}:{o['model']}:{o.get('lora')}:{o.get('mode')}:{schema}:{terms}:"
            f"{o.get('max_new_tokens')}:{o.get('retries')}:{o.get('frames')}:{o.get('resize')}"
        )

    # -- work ---------------------------------------------------------------------------------------------
    def _load(self) -> None:
        from chronicon.embed.captioner import Captioner

        o = self.options
        memo = self._memo()
        try:
            captioner = Captioner(
                str(o["model"]),
                device=str(o.get("device", "auto")),
                quantization=str(o.get("quantization", "auto")),
                lora=o.get("lora"),
                max_new_tokens=int(o.get("max_new_tokens", 256)),
            )
        except ModelUnavailableError as exc:
            if "needs about" not in str(exc):  # a memory shortfall is not a download problem
                memo.failed(str(exc)[:300])
            raise
        memo.clear()
        try:
            schema, lookup = self.schema, self.terms[0]
        except SchemaError as exc:
            raise ModelUnavailableError(str(exc)) from exc
        self.extractor = Extractor(
            captioner,
            schema,
            lookup,
            mode=str(o.get("mode", "constrained")),
            retries=int(o.get("retries", 2)),
            max_new_tokens=int(o.get("max_new_tokens", 256)),
        )

    def pictures(self, item: AssetItem) -> list[Image.Image]:
        """The pictures shown to the model: the photo, or the video's poster and shot frames (at most `frames`)."""
        side = int(self.options.get("resize", 384))
        limit = int(self.context.scan.get("max_image_pixels", 250_000_000))
        chosen = pick_frames([p.image for p in segment_pictures(item, side, max_pixels=limit)],
                             int(self.options.get("frames", 4)))  # fmt: skip
        shown = []
        for image in chosen:
            small = image.copy()
            small.thumbnail((side, side))
            shown.append(small)
        return shown

    def extract(self, item: AssetItem) -> Extraction:
        self.load()
        assert self.extractor is not None
        return self.extractor.extract(self.pictures(item))

    def analyze(self, item: AssetItem) -> dict[str, Any]:
        result = self.extract(item)
        return {
            "extracted": json.dumps(result.values, ensure_ascii=False),
            "extract_flags": result.flags,
            "extract_schema": self.schema.signature,
            "extract_text": readable(result.values),
        }
