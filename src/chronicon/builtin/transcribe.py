"""Built-in ML pass `transcribe`: Whisper transcripts of videos with timed segments, embedded and full-text indexed.

`[music]` segments (stretches with sound but no confident speech, embed/speech.py) stay in the stored timed
transcript (so `chronicon transcript`, SRT/VTT and export show them) but are not words: they are left out of
`transcript_text` (full-text search, --has-speech) and get no speech vector. A speech vector's `segment` is still
its 1-based place in the stored list, markers counted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from chronicon.analyzers.base import VECTORS_KEY, Analyzer, AssetItem, Outcome
from chronicon.analyzers.spaces import RankedHit, TextEmbedder, TextList
from chronicon.config import Setting
from chronicon.embed.packaged import package_dir
from chronicon.embed.speech import (
    BACKENDS,
    DEFAULT_WHISPER,
    SOUND_FLOOR_DB,
    Transcriber,
    is_music_marker,
    resolve_whisper,
)
from chronicon.embed.text import DEFAULT_TEXT_MODEL, derived_space, resolve_text_model, shared_text_embedder
from chronicon.errors import ModelUnavailableError
from chronicon.hookspecs import hookimpl
from chronicon.media.motion import stored_motion
from chronicon.runtime.backends import RUNTIME_SETTINGS
from chronicon.types import MediaKind, Phase

PLUGIN_NAME = "transcribe"
SPEECH_SUFFIX = ":speech"  # transcript segments live in the text model's space, in a table of their own


def speech_space(text_space: str) -> str:
    return text_space + SPEECH_SUFFIX


# runtime.models precision names -> CTranslate2 compute types (faster-whisper).
COMPUTE_TYPES = {"int8": "int8", "int8_fp16": "int8_float16", "fp16": "float16", "fp32": "float32", "bf16": "bfloat16"}


class TranscribePass(Analyzer):
    """Transcribes each video's audio (and that of the video inside a motion photo, stored on the photo); the
    segments keep their times, so searches can point into the video."""

    name: ClassVar[str] = "transcribe"
    version: ClassVar[int] = 2  # 2: speech over music is transcribed, `[music]` markers
    phase: ClassVar[Phase] = Phase.ML
    kinds: ClassVar[frozenset[MediaKind]] = frozenset({MediaKind.VIDEO, MediaKind.IMAGE})
    model_names: ClassVar[tuple[str, ...]] = ("whisper", "openai-whisper", "text-embedder")
    batch_size: ClassVar[int] = 1  # one video at a time, decoded in windows in this thread (memory stays flat)
    columns: ClassVar[dict[str, pa.DataType]] = {
        "transcript": pa.string(),  # JSON [{"start", "end", "text"}] in seconds; "[music]" texts are markers
        "transcript_text": pa.string(),  # the whole text without the markers, for full-text search
        "language": pa.string(),
    }
    settings: ClassVar[dict[str, Setting]] = {
        **RUNTIME_SETTINGS,
        "engine": Setting("str", "faster-whisper", choices=BACKENDS, help="the Whisper implementation"),
        # `backend` is the runtime's key; its older values named the implementation and still do.
        "backend": Setting("str", "auto", choices=(*RUNTIME_SETTINGS["backend"].choices, *BACKENDS)),
        "model": Setting("str", DEFAULT_WHISPER),
        "language": Setting("str", None, nullable=True),
        "vad": Setting("bool", True),
        "music": Setting(
            "bool", True, help="decode loud tonal audio the VAD dropped (confident text only); mark the rest [music]"
        ),
        "sound_floor_db": Setting(
            "float", SOUND_FLOOR_DB, minimum=-90.0, maximum=0.0, help="frame RMS (dBFS) from which audio is sound"
        ),
        "beam_size": Setting("int", 1, minimum=1, maximum=16),
        "compute_type": Setting(
            "str", None, nullable=True, help="(older key) a CTranslate2 compute type; wins over `precision`"
        ),
        "text_model": Setting("str", DEFAULT_TEXT_MODEL),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.transcriber: Transcriber | None = None
        self.text: Any = None

    @property
    def engine(self) -> str:
        """faster-whisper or openai-whisper (`engine`, or an older `backend` that names one)."""
        backend = self.config.str("backend")
        return backend if backend in BACKENDS else self.config.str("engine")

    def runtime_models(self) -> tuple[str, ...]:
        return ("whisper" if self.engine == "faster-whisper" else "openai-whisper", "text-embedder")

    def unavailable(self) -> str | None:
        backend = self.engine
        module = "faster_whisper" if backend == "faster-whisper" else "whisper"
        if package_dir(module) is None:
            return f"transcripts need {backend} (pip install 'chronicon[ml]')"
        try:
            resolve_whisper(self.config.str("model"))
            resolve_text_model(self.config.str("text_model"))
        except ModelUnavailableError as exc:
            return str(exc)
        return None

    def fingerprint(self) -> str:
        c = self.config
        text_space = resolve_text_model(c.str("text_model"))[1]
        music = f"{c['music']}@{c['sound_floor_db']:g}" if c["music"] else "False"
        return f"{self.version}:{self.engine}:{c['model']}:{c['language']}:{c['vad']}:{music}:{text_space}"

    def _load(self) -> None:
        model = self.runtime_models()[0]
        backend = self.config.str("backend")
        choice = self.runtime_choice(model, **({"backend": "auto"} if backend in BACKENDS else {}))
        compute_type = self.config.optional_str("compute_type") or COMPUTE_TYPES.get(choice.precision, "default")
        self.transcriber = Transcriber(
            self.config.str("model"),
            backend=self.engine,
            device=choice.device,
            compute_type=compute_type,
            language=self.config.optional_str("language"),
            vad=self.config.bool("vad"),
            beam_size=self.config.int("beam_size"),
            music=self.config.bool("music"),
            sound_floor_db=self.config.float("sound_floor_db"),
        )
        self.text = shared_text_embedder(self.config.str("text_model"), cache_dir=self.context.model_cache_dir)

    def _run(self, items: Sequence[AssetItem]) -> list[Outcome]:
        assert self.transcriber is not None
        outcomes: list[Outcome] = []
        for item in items:
            try:
                outcomes.append(self._one(item))
            except Exception as exc:  # per-item boundary
                outcomes.append(exc)
        return outcomes

    def applies_to(self, item: AssetItem) -> bool:
        if item.kind == MediaKind.VIDEO:
            return True
        return stored_motion(item.path, item.row) is not None and item.row.get("live_motion_audio") is not False

    def _one(self, item: AssetItem) -> dict[str, Any]:
        assert self.transcriber is not None
        if item.kind == MediaKind.VIDEO and item.row.get("has_audio") is False:
            return {"transcript": json.dumps([]), "transcript_text": None, "language": None}
        source = stored_motion(item.path, item.row) if item.kind == MediaKind.IMAGE else item.path
        assert source is not None  # (applies_to)
        result = self.transcriber.transcribe(source)
        segments: list[dict[str, Any]] = [
            {"start": round(s.start, 2), "end": round(s.end, 2), "text": s.text} for s in result.segments
        ]
        # (place in the stored list, segment) of what was said: the [music] markers are not words
        spoken = [(n, s) for n, s in enumerate(segments, 1) if not is_music_marker(s["text"])]
        columns: dict[str, Any] = {
            "transcript": json.dumps(segments, ensure_ascii=False),
            "transcript_text": " ".join(s["text"] for _, s in spoken) or None,
            "language": result.language,
        }
        if spoken and self.text is not None:
            from chronicon.catalog.vectors import VectorRow

            vectors = self.text.embed([s["text"] for _, s in spoken])
            digest = item.row.get("content_hash")
            rows = [
                VectorRow(
                    item.id,
                    np.asarray(v, dtype=np.float32),
                    segment=n,
                    t_start=s["start"],
                    t_end=s["end"],
                    content_hash=str(digest) if digest else None,
                )
                for (n, s), v in zip(spoken, vectors, strict=True)
            ]
            columns[VECTORS_KEY] = {speech_space(self.text.space): (int(vectors.shape[1]), rows)}
        return columns


def _speech_embedder(owner: TranscribePass) -> tuple[str, TextEmbedder] | None:
    """The transcript sentences' space and the text model that embedded them (None: no model here)."""
    return derived_space(owner.config.str("text_model"), SPEECH_SUFFIX, cache_dir=owner.context.model_cache_dir)


def said(row: dict[str, Any], segment: int) -> str | None:
    """The transcript text of a speech segment (1-based), shortened for display."""
    try:
        segments = json.loads(row.get("transcript") or "[]")
        text = str(segments[segment - 1]["text"]) if 0 < segment <= len(segments) else None
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    if text and len(text) > 80:
        text = text[:77] + "..."
    return text


def _describe_speech(hit: RankedHit) -> str:
    text = said(hit.row, hit.segment)
    return f"said{' ' + repr(text) if text else ''} ({hit.score or 0.0:.3f}, #{hit.rank})"


@hookimpl
def chronicon_register_analyzers() -> list[type[Analyzer]]:
    return [TranscribePass]


@hookimpl
def chronicon_register_spaces() -> list[TextList]:
    return [
        # What was said, sentence by sentence: a hit keeps the sentence's times (not a visual segment).
        TextList(
            "speech",
            _describe_speech,
            owner="transcribe",
            embedder=_speech_embedder,
            columns=("transcript",),
            moments=False,
        ),
        TextList("transcript", lambda hit: f"transcript mentions it (#{hit.rank})", column="transcript_text"),
    ]
