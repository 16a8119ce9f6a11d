"""Live Photo and motion photo fixtures: stills with an Apple MakerNote, MOVs with a content identifier, and JPEGs
with an MP4 appended and the Google motion-photo XMP that announces it."""

from __future__ import annotations

import struct
from pathlib import Path

from PIL import Image

from chronicon.media.motion import MOV_CONTENT_ID_KEY
from chronicon.media.xmp import JPEG_XMP_HEADER
from mediafactory import make_jpeg, make_mp4, picture

_EXIF_IFD = 0x8769


def apple_makernote(content_id: str, order: str = "MM") -> bytes:
    """An Apple MakerNote as iPhones write it: "Apple iOS\\0", version 1, byte order, then an IFD whose offsets
    count from the MakerNote's start, with MakerNoteVersion (0x0001) and ContentIdentifier (0x0011)."""
    end = ">" if order == "MM" else "<"
    text = content_id.encode() + b"\x00"
    header = b"Apple iOS\x00" + struct.pack(">H", 1) + order.encode()
    data_at = len(header) + 2 + 2 * 12 + 4
    entries = struct.pack(end + "HHII", 0x0001, 9, 1, 14) + struct.pack(end + "HHII", 0x0011, 2, len(text), data_at)
    return header + struct.pack(end + "H", 2) + entries + b"\x00\x00\x00\x00" + text


def make_still(path: Path, *, content_id: str | None, taken_at: str, offset: str = "+00:00") -> None:
    """A HEIC or JPEG (from the extension) with iPhone EXIF: make, model, capture time and the Apple MakerNote."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Apple", "iPhone 13"
    ifd = exif.get_ifd(_EXIF_IFD)
    ifd[0x9003] = taken_at  # DateTimeOriginal
    ifd[0x9011] = offset  # OffsetTimeOriginal
    if content_id is not None:
        ifd[0x927C] = apple_makernote(content_id)
    fmt = "HEIF" if path.suffix.lower() in (".heic", ".heif") else "JPEG"
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    picture((64, 48), (90, 140, 200)).save(path, fmt, exif=exif.tobytes(), quality=85)


def make_live_mov(path: Path, *, content_id: str | None, creation_time: str, seconds: float = 2.0) -> None:
    """A short MOV as a Live Photo's motion: QuickTime metadata with the content identifier (an "mdta" key)."""
    meta = {MOV_CONTENT_ID_KEY: content_id} if content_id else None
    make_mp4(path, seconds=seconds, creation_time=creation_time, location=None, metadata=meta)


def motion_xmp(length: int, *, flavour: str) -> bytes:
    """The XMP a Pixel (`MotionPhoto`, Container:Directory) or an older Google camera (`MicroVideo`) writes."""
    ns = ('xmlns:x="adobe:ns:meta/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
          ' xmlns:GCamera="http://ns.google.com/photos/1.0/camera/"'
          ' xmlns:Container="http://ns.google.com/photos/1.0/container/"'
          ' xmlns:Item="http://ns.google.com/photos/1.0/container/item/"')  # fmt: skip
    if flavour == "MicroVideo":
        desc = (f'<rdf:Description rdf:about="" GCamera:MicroVideo="1" GCamera:MicroVideoVersion="1"'
                f' GCamera:MicroVideoOffset="{length}"'
                ' GCamera:MicroVideoPresentationTimestampUs="500000"/>')  # fmt: skip
    else:
        desc = ('<rdf:Description rdf:about="" GCamera:MotionPhoto="1" GCamera:MotionPhotoVersion="1"'
                ' GCamera:MotionPhotoPresentationTimestampUs="500000"><Container:Directory><rdf:Seq>'
                '<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="image/jpeg" Item:Semantic="Primary"'
                ' Item:Length="0" Item:Padding="0"/></rdf:li>'
                '<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="video/mp4" Item:Semantic="MotionPhoto"'
                f' Item:Length="{length}" Item:Padding="0"/></rdf:li>'
                "</rdf:Seq></Container:Directory></rdf:Description>")  # fmt: skip
    return f"<x:xmpmeta {ns}><rdf:RDF>{desc}</rdf:RDF></x:xmpmeta>".encode()


def make_motion_photo(path: Path, work: Path, *, flavour: str = "MotionPhoto", claim_shift: int = 0,
                      seconds: float = 1.5, video: bytes | None = None) -> int:  # fmt: skip
    """A JPEG, its motion-photo XMP packet, and a PyAV-written MP4 (with a 440 Hz tone; or the MP4 `video`)
    appended after the image; the XMP's length is off by `claim_shift` bytes when asked. Returns where the MP4
    starts."""
    still, clip = work / f"{path.stem}-still.jpg", work / f"{path.stem}-clip.mp4"
    make_jpeg(still, make="Google", model="Pixel 8")
    if video is None:
        make_mp4(clip, seconds=seconds, cuts=(seconds / 2,))
        video = clip.read_bytes()
        clip.unlink()
    raw = still.read_bytes()
    payload = JPEG_XMP_HEADER + motion_xmp(len(video) + claim_shift, flavour=flavour)
    image = raw[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + raw[2:]
    path.write_bytes(image + video)
    still.unlink()
    return len(image)
