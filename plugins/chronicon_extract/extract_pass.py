"""The ML pass `extract`: a schema's fields from each photo, or from a video's poster and shot frames."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

import pyarrow as pa
from PIL import Image

from chronicon.api import (
    AssetItem,
    MediaKind,
    ModelUnavailableError,
    PerItemAnalyzer,
    Phase,
    Section,
    Setting,
    segment_pictures,
)
from chronicon.api.models import (
    DEFAULT_VLM,
    RUNTIME_SETTINGS,
    Captioner,
    DownloadMemo,
    package_dir,
    weights_problem,
)

from .extractor import MODES, Extraction, Extractor
from .schema import Schema, SchemaError, load_schema
from .terms import load_terms, readable

NO_SCHEMA = "set extract.schema to a schema file (see docs/extraction.md)"


def with_values(section: Section, **values: Any) -> Section:
    """The section with some values replaced, under the same declarations."""
    settings = {key: found for key in section if (found := section.setting(key)) is not None}
    return Section(section.name, {**section, **values}, settings)


def resolve_settings(section: Section, whole: Mapping[str, Any] | None = None) -> Section:
    """The extract section with its fallbacks filled in: `model` unset means `caption.model`, `terminology` unset
    means `eval.terminology` (when the whole config, dotted keys, is at hand), else the default captioning model.
    The other sections' keys are looked up, not read with a default: a disabled pass may declare none."""
    whole = whole or {}
    return with_values(
        section,
        model=section["model"] or whole.get("caption.model") or DEFAULT_VLM,
        terminology=section["terminology"] or whole.get("eval.terminology"),
    )


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
    model_names: ClassVar[tuple[str, ...]] = ("captioner",)
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
        **RUNTIME_SETTINGS,
        "quantization": Setting("str", "auto", choices=("auto", "4bit", "none"), help="(older key) none/4bit win"),
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
            schema = self.options.optional_str("schema")
            if not schema:
                raise SchemaError(NO_SCHEMA)
            self._schema = load_schema(schema)
        return self._schema

    @property
    def terms(self) -> tuple[dict[str, str], str]:
        if self._terms is None:
            self._terms = load_terms(self.options.optional_str("terminology"))
        return self._terms

    def _memo(self) -> DownloadMemo:
        return DownloadMemo(self.context.model_cache_dir, "vlm-" + self.options.str("model").replace("/", "--"))

    def unavailable(self) -> str | None:
        try:
            _ = self.schema, self.terms
        except SchemaError as exc:
            return str(exc)
        for module in ("torch", "transformers"):
            if package_dir(module) is None:
                return f"extraction needs {module} (pip install 'chronicon[ml]')"
        model = self.options.str("model")
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
            f"{self.version}:{o['model']}:{o['lora']}:{o['mode']}:{schema}:{terms}:"
            f"{o['max_new_tokens']}:{o['retries']}:{o['frames']}:{o['resize']}"
        )

    # -- work ---------------------------------------------------------------------------------------------
    def _load(self) -> None:
        o = self.options
        memo = self._memo()
        try:
            choice = self.runtime_choice("captioner")
            quantization = o.str("quantization")
            if quantization == "auto" and choice.precision != "4bit":
                quantization = "none"
            captioner = Captioner(
                o.str("model"),
                device=choice.device,
                precision=choice.precision,
                quantization=quantization,
                lora=o.optional_str("lora"),
                max_new_tokens=o.int("max_new_tokens"),
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
            mode=o.str("mode"),
            retries=o.int("retries"),
            max_new_tokens=o.int("max_new_tokens"),
        )

    def pictures(self, item: AssetItem) -> list[Image.Image]:
        """The pictures shown to the model: the photo, or the video's poster and shot frames (at most `frames`)."""
        side = self.options.int("resize")
        limit = self.context.scan_section.int("max_image_pixels")
        chosen = pick_frames([p.image for p in segment_pictures(item, side, max_pixels=limit)],
                             self.options.int("frames"))  # fmt: skip
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
