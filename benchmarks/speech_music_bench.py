"""Speech over music (issue 18): word error rate of Whisper tiny.en with and without the VAD, and with the
music fallback, on espeak-ng speech mixed over synthetic music; and the words each invents on music alone.

Six generic sentences, each spoken plainly and "chanted" (slow, monotone: a crude stand-in for singing), alone
("clean") and over three music textures (tests/musicfactory.py: chords with drums, a sustained pad with a
melody, a busy band) at 0 dB and -6 dB SNR (the voice's RMS against the music's). Every clip goes through a WAV
file and `Transcriber.transcribe`, as a video's audio would. WER is corpus-level: word edits / reference words,
lowercased, punctuation stripped; `[music]` markers are not words. "empty" counts the voiced clips (of 72 over
music) that got no words at all (what issue 18 saw: the VAD dropped the whole voice). "invented" counts the words
transcribed from music alone (three textures x 2 seeds x 20 s) and from 20 s of noise (rumble and clapping);
"markers" the `[music]` segments there. Whisper's temperature fallback samples (the VAD's speech, and all of it
without the VAD), so figures move a little between runs.

Settings:
- old: `vad: true` as before (faster-whisper's vad_filter=True, default VadOptions), every segment kept;
- no VAD: vad_filter=False, every segment kept;
- VAD 0.25: vad_filter=True with VadOptions(threshold=0.25) (a more permissive VAD alone);
- new: `vad: true, music: true` (the default): the VAD's speech as before, loud tonal stretches it passed over
  decoded again (confident segments kept), the rest `[music]`;
- new + fallback: as new, but the passed-over stretches are decoded with Whisper's temperature fallback
  (new decodes them greedily).

    .venv/bin/python benchmarks/speech_music_bench.py                # all settings (~10 min on 2 cores)
    .venv/bin/python benchmarks/speech_music_bench.py --settings old,new --sentences 3 --json
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from chronicon.embed.speech import Transcriber  # noqa: E402
from musicfactory import (  # noqa: E402
    RATE,
    TEXTURES,
    make_music,
    make_noise,
    speech_over_music,
    speech_samples,
    write_wav,
)

SENTENCES = (
    "The weather was lovely, so we walked down to the harbor and watched the boats come in.",
    "Please remember to switch off the lights before you leave the house tonight.",
    "My brother is driving up from the city on Friday with his two children.",
    "We found a small restaurant near the station that serves fresh fish every day.",
    "After dinner everyone sat around the fire and told stories until midnight.",
    "Grandma baked two apple pies and everybody asked for a second slice.",
)
SNRS: tuple[float | None, ...] = (None, 0.0, -6.0)  # None: the voice alone
SETTINGS = ("old", "no VAD", "VAD 0.25", "new", "new + fallback")


def words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


def edits(hyp: list[str], ref: list[str]) -> int:
    """Word-level Levenshtein distance."""
    row = list(range(len(hyp) + 1))
    for i, want in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, got in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (want != got))
    return row[len(hyp)]


def transcriber(setting: str) -> Transcriber:
    music = setting.startswith("new")
    t = Transcriber(language="en", vad=setting != "no VAD", music=music)
    if setting == "VAD 0.25":
        t.vad_options = {"threshold": 0.25}
    if setting == "new + fallback":
        t.doubt_temperature = t.temperature
    return t


def said(t: Transcriber, samples: Any, folder: Path) -> tuple[str, int, float]:
    """(the words, the number of [music] markers, seconds) of `samples` through a WAV file."""
    wav = folder / "clip.wav"
    write_wav(samples, wav)
    began = time.perf_counter()
    result = t.transcribe(str(wav))
    spent = time.perf_counter() - began
    text = " ".join(s.text for s in result.segments if not s.is_music)
    return text, sum(s.is_music for s in result.segments), spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated: " + ", ".join(SETTINGS))
    parser.add_argument("--sentences", type=int, default=len(SENTENCES))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is not installed (apt-get install espeak-ng)")
    chosen = [s.strip() for s in args.settings.split(",") if s.strip()]
    unknown = set(chosen) - set(SETTINGS)
    if unknown:
        sys.exit(f"unknown settings {sorted(unknown)}; use {', '.join(SETTINGS)}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clips: list[tuple[str, str, float | None, str, Any]] = []  # style, texture, snr, reference, samples
        for n, sentence in enumerate(SENTENCES[: args.sentences]):
            for style in ("spoken", "chanted"):
                voice = speech_samples(sentence, folder / "voice.wav", chanted=style == "chanted")
                clips.append((style, "-", None, sentence, speech_over_music(voice, None, 0.0)))
                for texture in TEXTURES:
                    bed = make_music(voice.size / RATE + 3.0, texture, seed=n)
                    for snr in SNRS[1:]:
                        assert snr is not None
                        clips.append((style, texture, snr, sentence, speech_over_music(voice, bed, snr)))
        beds = [(f"{texture} #{seed}", make_music(20.0, texture, seed=100 + seed)) for texture in TEXTURES
                for seed in range(2)]  # fmt: skip
        beds.append(("noise", make_noise(20.0, seed=7)))
        audio_seconds = sum(c[4].size for c in clips) / RATE
        report: dict[str, Any] = {"clips": len(clips), "audio_seconds": round(audio_seconds, 1), "settings": {}}
        for setting in chosen:
            t = transcriber(setting)
            cells: dict[str, list[int]] = {}  # "style snr" -> [edits, reference words]
            spent = 0.0
            empty = 0
            for style, _texture, snr, sentence, samples in clips:
                text, _, seconds = said(t, samples, folder)
                spent += seconds
                empty += snr is not None and not words(text)
                cell = cells.setdefault(f"{style} {'clean' if snr is None else f'{snr:g} dB'}", [0, 0])
                cell[0] += edits(words(text), words(sentence))
                cell[1] += len(words(sentence))
            invented: dict[str, Any] = {}
            for name, samples in beds:
                text, markers, _ = said(t, samples, folder)
                invented[name] = {"words": len(words(text)), "markers": markers, "text": text}
            report["settings"][setting] = {
                "wer": {k: round(e / max(1, w), 3) for k, (e, w) in cells.items()},
                "rtf": round(spent / audio_seconds, 3),
                "empty": empty,
                "invented_on_music": sum(v["words"] for k, v in invented.items() if k != "noise"),
                "invented_on_noise": invented["noise"]["words"],
                "markers_on_music": sum(v["markers"] for k, v in invented.items() if k != "noise"),
                "markers_on_noise": invented["noise"]["markers"],
                "music_only": invented,
            }
            if not args.json:
                print(f"{setting}: done in {spent:.0f} s", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    columns = [f"{style} {snr}" for style in ("spoken", "chanted") for snr in ("clean", "0 dB", "-6 dB")]
    print(f"{len(clips)} clips, {audio_seconds:.0f} s of audio; WER (lower is better)")
    head = f"{'setting':<15}" + "".join(f"{c:>14}" for c in columns)
    print(head + f"{'RTF':>7}{'empty':>7}{'invented':>10}{'markers':>9}")
    for setting, r in report["settings"].items():
        row = "".join(f"{r['wer'].get(c, float('nan')):>14.2f}" for c in columns)
        made_up = f"{r['invented_on_music']}/{r['invented_on_noise']}"
        marked = f"{r['markers_on_music']}/{r['markers_on_noise']}"
        print(f"{setting:<15}{row}{r['rtf']:>7.3f}{r['empty']:>7}{made_up:>10}{marked:>9}")
    print("invented / markers: on 6 music clips (20 s each) / on 20 s of noise")
    for setting, r in report["settings"].items():
        texts = {k: v["text"] for k, v in r["music_only"].items() if v["text"]}
        if texts:
            print(f"  {setting} invented: {texts}")


if __name__ == "__main__":
    main()
