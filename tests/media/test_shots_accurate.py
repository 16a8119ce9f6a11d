"""The accurate shot detector (TransNetV2) on a generated clip of real photos with known transitions: cuts,
fades and dissolves are found where they are, and the shots pass uses it (or the fast one without its package)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chronicon.embed.transnet import transnet_problem
from chronicon.evaluation.transitions import GeneratedClip, generate_clip, score_transitions
from chronicon.media.shots import SamplingOptions, sample_video

pytestmark = pytest.mark.skipif(transnet_problem() is not None, reason=str(transnet_problem()))


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> GeneratedClip:
    return generate_clip(tmp_path_factory.mktemp("accurate") / "transitions.mp4", size=(320, 180), seconds=16.0)


def test_accurate_detector_finds_cuts_fades_and_dissolves(clip: GeneratedClip) -> None:
    from chronicon.embed.transnet import default_model

    result = sample_video(str(clip.path), SamplingOptions(detector="accurate", min_shot=0.3), default_model())
    assert result.method == "transnetv2" and result.frames_decoded == clip.frames
    assert len(result.transitions) == len(result.cuts)
    score = score_transitions(clip.events, result.cuts)
    for kind in ("cut", "fade", "dissolve"):
        if score.kinds[kind].true:
            assert score.kinds[kind].found == score.kinds[kind].true, (kind, score.missed, result.cuts)
    assert score.zones["flash"] == 0 and score.zones["pan"] == 0, score.false_alarms
    # Segments start at the found transitions, and each keeps a frame from inside itself.
    assert len(result.segments) >= 2
    assert all(s.frames and s.t_start <= s.frame_times[0] < s.t_end for s in result.segments)


def test_accurate_needs_a_model(clip: GeneratedClip) -> None:
    with pytest.raises(ValueError, match="boundary model"):
        sample_video(str(clip.path), SamplingOptions(detector="accurate"))


def test_shots_pass_runs_transnet_and_falls_back_to_fast(clip: GeneratedClip, monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:  # fmt: skip
    import chronicon.builtin.shots as shots_pass
    from chronicon.analyzers.base import AnalyzerContext

    context = AnalyzerContext(catalog_dir=tmp_path, config={"detector": "accurate"})
    accurate = shots_pass.ShotsPass(context)
    assert accurate.runtime_models() == ("transnetv2",) and not accurate.limitations()
    fast_print = shots_pass.ShotsPass(AnalyzerContext(catalog_dir=tmp_path, config={"detector": "fast"})).fingerprint()
    assert accurate.fingerprint() != fast_print
    monkeypatch.setattr(shots_pass.ShotsPass, "_accurate_problem", staticmethod(lambda: "no transnetv2 here"))
    missing = shots_pass.ShotsPass(context)
    assert missing.runtime_models() == () and missing.fingerprint() == fast_print
    assert "no transnetv2 here" in missing.limitations()[0]
