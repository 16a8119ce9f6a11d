"""The `aesthetic` pass: the heuristic score of each photo (or video poster) from its four content metrics."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pyarrow as pa

from chronicon.api import AssetItem, MediaError, MediaKind, PerItemAnalyzer, Phase, Section, Setting, picture

from .metrics import ANALYSIS_SIDE, DEFAULT_WEIGHTS, PARTS, combine, measure

HEURISTIC = "heuristic"


def weights_from(config: Section) -> dict[str, float]:
    """The four part weights from the `aesthetic` config section (a Section with the `weight_<part>` keys that
    `weight_settings` declares)."""
    return {name: config.float(f"weight_{name}") for name in PARTS}


def weight_settings() -> dict[str, Setting]:
    return {
        f"weight_{name}": Setting("float", DEFAULT_WEIGHTS[name], minimum=0.0, help=f"weight of the {name} part")
        for name in PARTS
    }


class AestheticPass(PerItemAnalyzer):
    """Scores each picture 0..1 from sharpness, exposure, colourfulness and noise on a ≤512 px copy."""

    name: ClassVar[str] = "aesthetic"
    version: ClassVar[int] = 1
    phase: ClassVar[Phase] = Phase.CONTENT
    kinds: ClassVar[frozenset[MediaKind]] = frozenset(MediaKind)
    uses: ClassVar[tuple[str, ...]] = ("content",)  # shares its decoded picture when it ran in the same scan
    columns: ClassVar[dict[str, pa.DataType]] = {
        "aesthetic": pa.float64(),
        "aesthetic_parts": pa.string(),
        "aesthetic_source": pa.string(),
    }
    settings: ClassVar[dict[str, Setting]] = {
        **weight_settings(),
        "ridge_alpha": Setting("float", 1.0, minimum=0.0, help="ridge penalty of `chronicon aesthetic train`"),
    }

    def fingerprint(self) -> str:
        weights = weights_from(self.config)
        return f"{self.version}:" + ",".join(f"{weights[name]:g}" for name in PARTS)

    def analyze(self, item: AssetItem) -> dict[str, Any]:
        try:
            image = picture(item, ANALYSIS_SIDE)
            parts = measure(image)
        except MediaError:
            raise
        except (OSError, ValueError, SyntaxError) as exc:
            raise MediaError(f"cannot read the picture: {exc}") from exc
        return {
            "aesthetic": round(combine(parts, weights_from(self.config)), 6),
            "aesthetic_parts": json.dumps(parts, sort_keys=True),
            "aesthetic_source": HEURISTIC,
        }
