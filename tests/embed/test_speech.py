"""Speech: audio windows through PyAV, and the openai-whisper backend loading a tiny random checkpoint from a path."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from chronicon.embed.speech import SAMPLE_RATE, Transcriber, audio_windows, has_audio
from mediafactory import make_mp4


def test_audio_is_decoded_to_16k_mono_in_windows(tmp_path: Path) -> None:
    clip = tmp_path / "tone.mp4"
    make_mp4(clip, seconds=3.0, fps=10, audio=True, sample_rate=44100)
    windows = list(audio_windows(str(clip), window=1.0))
    assert [offset for offset, _ in windows][:3] == [0.0, 1.0, 2.0]  # (AAC padding may add a short 4th)
    total = sum(samples.size for _, samples in windows) / SAMPLE_RATE
    assert total == pytest.approx(3.0, abs=0.15)
    assert all(samples.dtype == np.float32 and samples.ndim == 1 for _, samples in windows)
    assert np.abs(windows[1][1]).max() > 0.05  # the tone is there
    silent = tmp_path / "silent.mp4"
    make_mp4(silent, seconds=1.0, audio=False)
    assert not has_audio(str(silent)) and list(audio_windows(str(silent))) == []


def test_openai_whisper_loads_a_checkpoint_file_and_transcribes(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    whisper = pytest.importorskip("whisper")
    from whisper.model import ModelDimensions, Whisper

    dims = ModelDimensions(
        n_mels=80, n_audio_ctx=1500, n_audio_state=32, n_audio_head=2, n_audio_layer=1,
        n_vocab=51864, n_text_ctx=448, n_text_state=32, n_text_head=2, n_text_layer=1,
    )  # fmt: skip
    torch.manual_seed(0)
    model = Whisper(dims)
    checkpoint = tmp_path / "tiny-random.pt"
    torch.save({"dims": asdict(dims), "model_state_dict": model.state_dict()}, checkpoint)
    loaded = whisper.load_model(str(checkpoint), device="cpu")  # the loader real checkpoints go through
    assert loaded.dims.n_audio_state == 32
    clip = tmp_path / "tone.mp4"
    make_mp4(clip, seconds=1.0, audio=True)
    # Greedy only: random weights give degenerate text, and the fallback would sample from NaN logits. Music
    # off: without a VAD it keeps only confident segments, and random weights are never confident.
    transcriber = Transcriber(
        str(checkpoint), backend="openai-whisper", device="cpu", language="en", fallback=False, music=False
    )
    result = transcriber.transcribe(str(clip))  # random weights: any text, but real segments with times
    assert result.audio_seconds == pytest.approx(1.0, abs=0.1)
    assert result.segments and all(0 <= s.start <= s.end <= 1.5 for s in result.segments), result.segments
    # With music on (the default) openai-whisper's unconfident text is dropped and a held tone is `[music]`.
    transcriber.music = True
    held = tmp_path / "held.mp4"
    make_mp4(held, seconds=3.0, audio=True)
    assert [s.text for s in transcriber.transcribe(str(held)).segments] == ["[music]"]


def test_timestamps_past_the_end_of_the_audio_are_cut_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from chronicon.embed.speech import SpeechSegment

    clip = tmp_path / "tone.mp4"
    make_mp4(clip, seconds=1.0, audio=True)
    transcriber = Transcriber.__new__(Transcriber)  # no model: the window's raw segments come from below
    transcriber.language = "en"
    found = [SpeechSegment(0.0, 0.6, "hello"), SpeechSegment(0.6, 7.5, "there"), SpeechSegment(24.7, 24.72, "!")]
    monkeypatch.setattr(transcriber, "_window", lambda samples: (found, "en"), raising=False)
    result = transcriber.transcribe(str(clip))
    assert [s.text for s in result.segments] == ["hello", "there"]
    assert result.segments[1].end == pytest.approx(result.audio_seconds, abs=0.05)
    assert result.audio_seconds < 1.1
