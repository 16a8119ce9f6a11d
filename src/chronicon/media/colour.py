"""Colour to sRGB for thumbnails and models: embedded ICC profiles (Display P3, Adobe RGB, CMYK) and HDR / wide-gamut
pictures described by their NCLX colour information (BT.2020 primaries, PQ and HLG transfer), as HEIC/AVIF carry."""

from __future__ import annotations

import hashlib
import io
import logging
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageCms

log = logging.getLogger(__name__)

# ITU-T H.273 code points (the values an NCLX box holds).
_BT709_PRIMARIES = (1, 2)  # BT.709 / sRGB, unspecified
_BT2020_PRIMARIES = 9
_P3_PRIMARIES = (11, 12)  # DCI-P3, Display P3
_PQ = 16  # SMPTE ST 2084
_HLG = 18  # ARIB STD-B67
_SRGB_LIKE_TRANSFER = (1, 2, 6, 13, 14, 15)  # BT.709, unspecified, BT.601, sRGB, BT.2020 10/12-bit

# Linear RGB of these primaries -> linear BT.709 (D65), rows are output channels.
_TO_709 = {
    _BT2020_PRIMARIES: np.array(
        [[1.6605, -0.5876, -0.0728], [-0.1246, 1.1329, -0.0083], [-0.0182, -0.1006, 1.1187]], dtype=np.float32
    ),
    12: np.array([[1.2249, -0.2247, 0.0], [-0.0420, 1.0419, 0.0], [-0.0197, -0.0786, 1.0979]], dtype=np.float32),
}
_TO_709[11] = _TO_709[12]  # DCI-P3 with a D65 white is treated as Display P3 (close enough for thumbnails)

SDR_WHITE_NITS = 203.0  # BT.2408's reference white: what HDR graphics white maps to
_SRGB = ImageCms.createProfile("sRGB")
_transforms: OrderedDict[tuple[str, str], Any] = OrderedDict()
_lock = threading.Lock()


def _icc_is_srgb(profile: ImageCms.ImageCmsProfile) -> bool:
    try:
        description = ImageCms.getProfileDescription(profile) or ""
    except ImageCms.PyCMSError:
        return False
    return "srgb" in description.lower().replace(" ", "")


def _icc_transform(icc: bytes, mode: str) -> Any | None:
    """A cached ICC -> sRGB transform for this profile and input mode; None when the profile is sRGB already or
    unusable (then the picture is used as it is)."""
    key = (hashlib.sha1(icc, usedforsecurity=False).hexdigest(), mode)
    with _lock:
        if key in _transforms:
            _transforms.move_to_end(key)
            return _transforms[key]
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        transform = None
        if not _icc_is_srgb(profile):
            transform = ImageCms.buildTransform(profile, _SRGB, mode, "RGB", ImageCms.Intent.PERCEPTUAL)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        log.debug("ICC profile left unused: %s", exc)
        transform = None
    with _lock:
        _transforms[key] = transform
        while len(_transforms) > 32:
            _transforms.popitem(last=False)
    return transform


def _pq_to_linear(coded: NDArray[np.float32]) -> NDArray[np.float32]:
    """SMPTE ST 2084 EOTF: code values 0..1 -> light, with 1.0 = SDR reference white."""
    m1, m2, c1, c2, c3 = 0.1593017578125, 78.84375, 0.8359375, 18.8515625, 18.6875
    p = np.power(np.clip(coded, 0.0, 1.0), 1.0 / m2)
    nits = 10000.0 * np.power(np.maximum(p - c1, 0.0) / (c2 - c3 * p), 1.0 / m1)
    return (nits / SDR_WHITE_NITS).astype(np.float32)


def _hlg_to_linear(coded: NDArray[np.float32]) -> NDArray[np.float32]:
    """ARIB STD-B67 inverse OETF with the BT.2100 system gamma (1.2 at 1000 nits), 1.0 = SDR reference white
    (HLG's 75% signal)."""
    a, b, c = 0.17883277, 0.28466892, 0.55991073
    e = np.clip(coded, 0.0, 1.0)
    scene = np.where(e <= 0.5, e * e / 3.0, (np.exp((e - c) / a) + b) / 12.0)
    luma = scene @ np.array([0.2627, 0.6780, 0.0593], dtype=np.float32)
    display = scene * np.power(np.maximum(luma, 1e-6), 0.2)[..., None]  # system gamma 1.2
    white = 0.2647**1.2  # display light of a 75% HLG signal, grey (203 of 1000 nits)
    return np.asarray(display / white, dtype=np.float32)


def _srgb_to_linear(coded: NDArray[np.float32]) -> NDArray[np.float32]:
    return np.where(coded <= 0.04045, coded / 12.92, np.power((coded + 0.055) / 1.055, 2.4)).astype(np.float32)


def _linear_to_srgb(linear: NDArray[np.float32]) -> NDArray[np.float32]:
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1.0 / 2.4) - 0.055).astype(np.float32)


def _tone_map(linear: NDArray[np.float32]) -> NDArray[np.float32]:
    """HDR light into the SDR range: extended Reinhard on the maximum channel (hues kept), a 1000-nit peak onto
    SDR white and reference white (203 nits) onto about 75% of the sRGB code range, so highlights keep detail."""
    peak = 1000.0 / SDR_WHITE_NITS
    m = np.max(linear, axis=-1, keepdims=True)
    mapped = m * (1.0 + m / (peak * peak)) / (1.0 + m)
    scale = np.where(m > 1e-6, mapped / np.maximum(m, 1e-6), 1.0)
    return (linear * scale).astype(np.float32)


def _nclx_to_srgb(img: Image.Image, nclx: dict[str, Any]) -> Image.Image | None:
    """An RGB picture coded with these NCLX primaries and transfer, as sRGB; None when it is sRGB already."""
    primaries = int(nclx.get("color_primaries") or 2)
    transfer = int(nclx.get("transfer_characteristics") or 2)
    wide = primaries not in _BT709_PRIMARIES and primaries in _TO_709
    hdr = transfer in (_PQ, _HLG)
    if not wide and not hdr:
        return None
    if not hdr and transfer not in _SRGB_LIKE_TRANSFER:
        return None  # a transfer we do not model: left as it is rather than guessed
    coded = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    if transfer == _PQ:
        linear = _pq_to_linear(coded)
    elif transfer == _HLG:
        linear = _hlg_to_linear(coded)
    else:
        linear = _srgb_to_linear(coded)
    if wide:
        linear = linear @ _TO_709[primaries].T
    if hdr:
        linear = _tone_map(np.maximum(linear, 0.0))
    out = np.clip(np.rint(_linear_to_srgb(linear) * 255.0), 0, 255).astype(np.uint8)
    return Image.fromarray(out, "RGB")


def to_srgb(img: Image.Image) -> Image.Image:
    """The picture in sRGB: through its ICC profile (RGB, CMYK or greyscale pictures), else its NCLX colour
    description (wide gamut, PQ and HLG HDR tone-mapped); unchanged when it is sRGB already or says nothing.
    The result may be in another mode ("RGB" after a conversion); pixel count and orientation never change."""
    icc = img.info.get("icc_profile")
    if isinstance(icc, bytes) and icc and img.mode in ("RGB", "CMYK", "L"):
        transform = _icc_transform(icc, img.mode)
        if transform is not None:
            try:
                converted = ImageCms.applyTransform(img, transform)
                if converted is not None:
                    return converted
            except (ImageCms.PyCMSError, ValueError, OSError) as exc:
                log.debug("ICC conversion failed, picture used as it is: %s", exc)
        return img
    nclx = img.info.get("nclx_profile")
    if isinstance(nclx, dict) and img.mode in ("RGB", "RGBA"):
        converted = _nclx_to_srgb(img, nclx)
        if converted is not None:
            return converted
    return img
