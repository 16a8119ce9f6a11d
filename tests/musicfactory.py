"""Synthetic music and speech over it, deterministic (numpy, a seed), for the speech-over-music tests and
benchmarks/speech_music_bench.py. Speech is Debian's espeak-ng (the caller skips when it is not installed).

Three music textures (and `make_noise`, none), each normalised to RMS 0.1 (-20 dBFS) with a faint noise floor:
- "chords": piano-like chords (harmonic tones decaying over a bar) with a kick drum and a hi-hat;
- "pad": sustained string-like chords with vibrato and a plucked melody, no drums (masks a voice most);
- "band": a bass line, an arpeggio, kick and snare (busy).
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

import av
import numpy as np

RATE = 16_000
TEXTURES = ("chords", "pad", "band")
_ROOTS = (220.0, 174.6, 196.0, 261.6, 146.8)
Samples = np.ndarray[Any, np.dtype[np.float32]]


def _tone(rng: np.random.Generator, freq: float, n: int, harmonics: int, tilt: float) -> np.ndarray[Any, Any]:
    t = np.arange(n) / RATE
    wave = np.zeros(n)
    for h in range(1, harmonics + 1):
        wave += np.sin(2 * np.pi * freq * h * t + rng.uniform(0, 2 * np.pi)) / h**tilt
    return wave


def make_music(seconds: float, texture: str = "chords", seed: int = 0) -> Samples:
    """`seconds` of 16 kHz mono music of one texture (TEXTURES) at RMS 0.1."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    out = np.zeros(n)
    beat = int(RATE * 60 / (100 + 20 * (seed % 3)))
    if texture == "chords":
        for b, s in enumerate(range(0, n, 4 * beat)):
            m = min(4 * beat, n - s)
            decay = np.exp(-np.arange(m) / RATE * 1.5)
            for ratio in (1.0, 1.26, 1.5):
                out[s : s + m] += 0.3 * _tone(rng, _ROOTS[(b + seed) % 5] * ratio, m, 8, 1.2) * decay
        for s in range(0, n, beat):
            t = np.arange(min(int(0.15 * RATE), n - s)) / RATE
            out[s : s + t.size] += 0.9 * np.sin(2 * np.pi * (60 + 80 * np.exp(-t * 30)) * t) * np.exp(-t * 25)
        for s in range(beat // 2, n, beat):
            m = min(int(0.05 * RATE), n - s)
            out[s : s + m] += 0.2 * rng.standard_normal(m) * np.exp(-np.arange(m) / RATE * 80)
    elif texture == "pad":
        t = np.arange(n) / RATE
        for b, s in enumerate(range(0, n, 8 * beat)):
            m = min(8 * beat, n - s)
            tt = t[:m]
            swell = np.minimum(1, np.minimum(tt / 0.3, (m / RATE - tt) / 0.3 + 1e-3))
            for ratio in (0.5, 1.0, 1.2, 1.5):
                vibrato = 1 + 0.004 * np.sin(2 * np.pi * 5.5 * tt)
                phase = 2 * np.pi * np.cumsum(_ROOTS[(b + seed) % 5] * ratio * vibrato)
                out[s : s + m] += 0.2 * sum(np.sin(h * phase / RATE) / h for h in range(1, 10)) * swell
        scale = (1, 9 / 8, 5 / 4, 4 / 3, 3 / 2, 5 / 3, 15 / 8, 2)
        for s in range(0, n, beat):
            m = min(beat, n - s)
            pluck = np.exp(-np.arange(m) / RATE * 3)
            out[s : s + m] += 0.25 * _tone(rng, 440 * scale[rng.integers(8)], m, 4, 1.5) * pluck
    elif texture == "band":
        half = beat // 2
        for i, s in enumerate(range(0, n, half)):
            m = min(half, n - s)
            root = _ROOTS[(i // 8 + seed) % 5]
            decay = np.exp(-np.arange(m) / RATE * 6)
            out[s : s + m] += 0.4 * _tone(rng, root / 2, m, 5, 1.0) * decay
            out[s : s + m] += 0.25 * _tone(rng, root * (1, 1.26, 1.5, 2)[i % 4], m, 6, 1.3) * decay
        for k, s in enumerate(range(0, n, beat)):
            t = np.arange(min(int(0.12 * RATE), n - s)) / RATE
            if k % 2 == 0:
                out[s : s + t.size] += 0.8 * np.sin(2 * np.pi * (55 + 90 * np.exp(-t * 30)) * t) * np.exp(-t * 25)
            else:
                out[s : s + t.size] += 0.5 * rng.standard_normal(t.size) * np.exp(-t * 30)
    else:
        raise ValueError(f"unknown texture {texture!r}; use one of {', '.join(TEXTURES)}")
    out += 0.01 * rng.standard_normal(n)
    scaled: Samples = (0.1 * out / (np.sqrt(np.mean(out**2)) + 1e-12)).astype(np.float32)
    return scaled


def speech_samples(text: str, wav: str | os.PathLike[str], *, chanted: bool = False) -> Samples:
    """espeak-ng saying `text`, as 16 kHz mono float32. `chanted`: slow (90 words/min) and monotone, a crude
    stand-in for singing (Silero VAD drops it under music sooner than plain speech)."""
    if chanted:
        args = ["-s", "90", "-m", f'<speak><prosody range="x-low">{text}</prosody></speak>']
    else:
        args = [text]
    subprocess.run(["espeak-ng", "-w", os.fspath(wav), *args], check=True, capture_output=True)
    chunks = []
    with av.open(os.fspath(wav)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        for frame in container.decode(container.streams.audio[0]):
            chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
        chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    samples: Samples = np.concatenate(chunks).astype(np.float32)
    return samples


def speech_over_music(speech: Samples, music: Samples | None, snr_db: float, lead: float = 1.0) -> Samples:
    """`speech` from `lead` seconds into `music` (looped or cut to end a second after the speech) at `snr_db`:
    the speech's RMS over its voiced samples against the music's RMS. No music: the speech alone, same timing."""
    n = speech.size + int((lead + 1.0) * RATE)
    voice = np.zeros(n, np.float32)
    voice[int(lead * RATE) : int(lead * RATE) + speech.size] = speech
    if music is None:
        return voice
    bed = np.resize(music, n).astype(np.float32)
    voiced = speech[np.abs(speech) > 0.02 * np.abs(speech).max()]
    gain = np.sqrt(np.mean(bed**2) / np.mean(voiced**2)) * 10 ** (snr_db / 20)
    mixed = bed + gain * voice
    level: Samples = (mixed / max(1.0, float(np.abs(mixed).max()) / 0.95)).astype(np.float32)
    return level


def write_wav(samples: Samples, path: str | os.PathLike[str]) -> None:
    """16-bit PCM mono WAV at 16 kHz through PyAV."""
    with av.open(os.fspath(path), mode="w") as out:
        stream: Any = out.add_stream("pcm_s16le", rate=RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            (np.clip(samples, -1, 1) * 32767).astype(np.int16)[None, :], format="s16", layout="mono"
        )
        frame.sample_rate = RATE
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)


def make_noise(seconds: float, seed: int = 0) -> Samples:
    """Noise without pitch at RMS 0.1: pink-ish rumble with bursts of clapping (no music, no voice)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    spectrum = np.fft.rfft(rng.standard_normal(n)) / np.sqrt(np.arange(n // 2 + 1) + 1.0)
    out = np.fft.irfft(spectrum, n)
    out /= np.sqrt(np.mean(out**2))
    for s in rng.integers(0, max(1, n - 800), int(seconds * 20)):
        out[s : s + 800] += 2 * rng.standard_normal(800) * np.exp(-np.arange(800) / 100)
    scaled: Samples = (0.1 * out / np.sqrt(np.mean(out**2))).astype(np.float32)
    return scaled
