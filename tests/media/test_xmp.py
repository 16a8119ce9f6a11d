"""XMP parsing: sidecars as Lightroom, darktable and digiKam write them, a JPEG's embedded APP1 packet, sidecars over
the embedded packet, and malformed or hostile XMP left out with a reason (never an exception)."""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import pytest

from chronicon.media.xmp import (
    JPEG_XMP_HEADER,
    XmpError,
    find_sidecars,
    jpeg_xmp,
    parse_xmp,
    read_xmp,
    sidecar_names,
)
from mediafactory import make_jpeg

LIGHTROOM = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0-c000 1.000000, 0000/00/00-00:00:00">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
   xmp:Rating="4"
   xmp:Label="Red"
   crs:Exposure2012="+0.35">
   <dc:title>
    <rdf:Alt>
     <rdf:li xml:lang="x-default">Evening on the Seine</rdf:li>
    </rdf:Alt>
   </dc:title>
   <dc:description>
    <rdf:Alt>
     <rdf:li xml:lang="fr-FR">Le soir sur la Seine</rdf:li>
     <rdf:li xml:lang="x-default">Boats under the Pont Neuf at dusk</rdf:li>
    </rdf:Alt>
   </dc:description>
   <dc:subject>
    <rdf:Bag>
     <rdf:li>Paris</rdf:li>
     <rdf:li>river</rdf:li>
     <rdf:li>zanzibarite</rdf:li>
    </rdf:Bag>
   </dc:subject>
   <lr:hierarchicalSubject>
    <rdf:Bag>
     <rdf:li>Places|France|Paris</rdf:li>
     <rdf:li>Things|river</rdf:li>
    </rdf:Bag>
   </lr:hierarchicalSubject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""

# darktable 4.x: attributes for the simple properties, a Seq of colour label numbers, element-form Rating absent.
DARKTABLE = """<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
    xmlns:darktable="http://darktable.sf.net/"
   xmp:Rating="-1"
   xmpMM:DerivedFrom="IMG_0042.CR2"
   darktable:xmp_version="5">
   <darktable:colorlabels>
    <rdf:Seq>
     <rdf:li>2</rdf:li>
    </rdf:Seq>
   </darktable:colorlabels>
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Harbour</rdf:li></rdf:Alt></dc:title>
   <dc:subject><rdf:Seq><rdf:li>boats</rdf:li><rdf:li>darktable|format|CR2</rdf:li></rdf:Seq></dc:subject>
   <lr:hierarchicalSubject><rdf:Bag><rdf:li>Places|Norway|Bergen</rdf:li></rdf:Bag></lr:hierarchicalSubject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>"""

# digiKam: element-form Rating and Label, its own "/"-separated tag paths, no lr:hierarchicalSubject.
DIGIKAM = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:digiKam="http://www.digikam.org/ns/1.0/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
   <xmp:Rating>3</xmp:Rating>
   <xmp:Label>Blue</xmp:Label>
   <digiKam:TagsList><rdf:Seq><rdf:li>People/Family/Anna</rdf:li><rdf:li>Events/Birthday</rdf:li></rdf:Seq>
   </digiKam:TagsList>
   <dc:subject><rdf:Bag><rdf:li>Anna</rdf:li><rdf:li>Birthday</rdf:li></rdf:Bag></dc:subject>
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">Anna blows out the candles</rdf:li></rdf:Alt>
   </dc:description>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


def test_lightroom_sidecar() -> None:
    data = parse_xmp(LIGHTROOM.encode("utf-8"))
    assert data.rating == 4 and data.label == "Red"
    assert data.keywords == ["Paris", "river", "zanzibarite"]
    assert data.hierarchy == ["Places|France|Paris", "Things|river"]
    assert data.title == "Evening on the Seine"
    assert data.description == "Boats under the Pont Neuf at dusk"  # x-default, not the first language
    terms = data.terms()
    assert {"paris", "places", "france", "places|france|paris", "things|river", "zanzibarite"} <= set(terms)
    text = data.text()
    assert text is not None and "zanzibarite" in text and "France" in text and "Pont Neuf" in text


def test_darktable_sidecar() -> None:
    data = parse_xmp(DARKTABLE)
    assert data.rating == -1  # rejected
    assert data.label == "Green"  # from darktable:colorlabels
    assert data.keywords == ["boats", "darktable|format|CR2"]
    assert data.hierarchy == ["Places|Norway|Bergen"]
    assert data.title == "Harbour" and data.description is None
    assert "bergen" in data.terms() and "norway" in data.terms()


def test_digikam_sidecar() -> None:
    data = parse_xmp(DIGIKAM)
    assert data.rating == 3 and data.label == "Blue"
    assert data.keywords == ["Anna", "Birthday"]
    assert data.hierarchy == ["People|Family|Anna", "Events|Birthday"]
    assert data.description == "Anna blows out the candles"
    assert {"family", "people|family|anna", "events"} <= set(data.terms())


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        (b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF", "not well-formed"),
        (b"", "not well-formed"),
        (b"\xff\xfe garbage \x00\x01", "not well-formed"),
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
            b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>&lol2;</x:xmpmeta>",
            "DOCTYPE",
        ),
        (b"<a>" + b" " * (5 * 1024 * 1024) + b"</a>", "larger than"),
    ],
)
def test_malformed_or_hostile_xmp_is_refused_with_a_reason(packet: bytes, reason: str) -> None:
    with pytest.raises(XmpError, match=reason):
        parse_xmp(packet)


def test_out_of_range_rating_is_ignored() -> None:
    packet = LIGHTROOM.replace('xmp:Rating="4"', 'xmp:Rating="9"')
    assert parse_xmp(packet).rating is None
    assert parse_xmp(LIGHTROOM.replace('xmp:Rating="4"', 'xmp:Rating="2.0"')).rating == 2


def test_sidecar_names_and_lookup_any_case(tmp_path: Path) -> None:
    assert sidecar_names("IMG_0042.CR2") == ["img_0042.cr2.xmp", "img_0042.xmp"]
    photo = tmp_path / "IMG_0042.JPG"
    make_jpeg(photo)
    (tmp_path / "IMG_0042.XMP").write_text(LIGHTROOM)
    (tmp_path / "IMG_0042.JPG.xmp").write_text(DIGIKAM)
    (tmp_path / "IMG_0043.xmp").write_text(DARKTABLE)  # another photo's
    found = find_sidecars(str(photo))
    assert [os.path.basename(p) for p in found] == ["IMG_0042.JPG.xmp", "IMG_0042.XMP"]


def _app1(payload: bytes) -> bytes:
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def _with_app1(jpeg: bytes, payload: bytes) -> bytes:
    """The JPEG with an APP1 segment holding `payload` right after SOI."""
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + _app1(payload) + jpeg[2:]


def test_embedded_xmp_in_a_jpeg_app1_segment(tmp_path: Path) -> None:
    photo = tmp_path / "plain.jpg"
    make_jpeg(photo)
    raw = photo.read_bytes()
    assert jpeg_xmp(str(photo)) is None
    # After the first segment (EXIF or JFIF), where Lightroom and cameras put it: the reader walks past others.
    first_end = 4 + struct.unpack(">H", raw[4:6])[0]
    photo.write_bytes(raw[:first_end] + _app1(JPEG_XMP_HEADER + DIGIKAM.encode()) + raw[first_end:])
    packet = jpeg_xmp(str(photo))
    assert packet is not None and b"digiKam:TagsList" in packet
    result = read_xmp(str(photo))
    assert result.sources == ["embedded"] and result.problems == []
    assert result.data.rating == 3 and result.data.keywords == ["Anna", "Birthday"]
    from PIL import Image

    with Image.open(photo) as img:  # still a valid JPEG
        img.load()


def test_sidecar_wins_over_embedded_field_by_field(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_1.jpg"
    make_jpeg(photo)
    photo.write_bytes(_with_app1(photo.read_bytes(), JPEG_XMP_HEADER + DIGIKAM.encode()))
    sidecar = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
      <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="5"/></rdf:RDF></x:xmpmeta>"""
    (tmp_path / "IMG_1.xmp").write_text(sidecar)
    before = photo.read_bytes()
    result = read_xmp(str(photo))
    assert result.sources == ["sidecar IMG_1.xmp", "embedded"]
    assert result.data.rating == 5  # the sidecar's
    assert result.data.label == "Blue" and result.data.keywords == ["Anna", "Birthday"]  # the embedded ones
    assert photo.read_bytes() == before  # read only


def test_a_malformed_sidecar_is_left_out_and_named(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_2.jpg"
    make_jpeg(photo)
    (tmp_path / "IMG_2.jpg.xmp").write_bytes(b"<x:xmpmeta><rdf:RDF>truncated")
    (tmp_path / "IMG_2.xmp").write_text(LIGHTROOM)
    result = read_xmp(str(photo))
    assert result.sources == ["sidecar IMG_2.xmp"]
    assert len(result.problems) == 1 and result.problems[0].startswith("IMG_2.jpg.xmp: not well-formed XML")
    assert result.data.rating == 4


def test_a_truncated_jpeg_header_gives_no_packet(tmp_path: Path) -> None:
    photo = tmp_path / "cut.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe1\x40\x00http://ns.adobe.com/xap")  # length beyond the end
    assert jpeg_xmp(str(photo)) is None
    assert read_xmp(str(photo)).data.is_empty()


NS_ATTRS = (
    'xmlns:x="adobe:ns:meta/"',
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"',
    'xmlns:xmp="http://ns.adobe.com/xap/1.0/"',
    'xmlns:dc="http://purl.org/dc/elements/1.1/"',
)


def _write_with_exiv(path: Path, *, xmp: dict[str, Any] | None = None, iptc: dict[str, Any] | None = None) -> None:
    pyexiv2 = pytest.importorskip("pyexiv2")
    with pyexiv2.Image(str(path)) as image:
        if xmp:
            image.modify_xmp(xmp)
        if iptc:
            image.modify_iptc(iptc)


@pytest.mark.parametrize(("suffix", "fmt"), [(".png", "png"), (".tif", "tiff"), (".webp", "webp")])
def test_embedded_xmp_in_other_formats_through_exiv2(tmp_path: Path, suffix: str, fmt: str) -> None:
    from PIL import Image

    photo = tmp_path / f"shot{suffix}"
    Image.new("RGB", (40, 30), (90, 120, 200)).save(photo)
    _write_with_exiv(photo, xmp={"Xmp.dc.subject": ["Lisbon", "Tram"], "Xmp.xmp.Rating": "4"})
    before = photo.read_bytes()
    result = read_xmp(str(photo), [], fmt=fmt)
    assert result.sources == ["embedded"] and result.problems == []
    assert result.data.keywords == ["Lisbon", "Tram"] and result.data.rating == 4
    assert photo.read_bytes() == before


def test_embedded_xmp_in_a_heic(tmp_path: Path) -> None:
    pytest.importorskip("pillow_heif")
    from PIL import Image

    from chronicon.media.photo import register_heif

    register_heif()
    photo = tmp_path / "IMG_0042.HEIC"
    packet = (f'<x:xmpmeta {" ".join(NS_ATTRS)}><rdf:RDF><rdf:Description rdf:about="" xmp:Rating="5">'
              "<dc:subject><rdf:Bag><rdf:li>Harbour</rdf:li></rdf:Bag></dc:subject>"
              "</rdf:Description></rdf:RDF></x:xmpmeta>")  # fmt: skip
    Image.new("RGB", (64, 48), (10, 200, 90)).save(photo, xmp=packet.encode())
    result = read_xmp(str(photo), [], fmt="heif")
    assert result.sources == ["embedded"], result.problems
    assert result.data.keywords == ["Harbour"] and result.data.rating == 5


def test_iptc_keywords_title_and_caption_under_xmp(tmp_path: Path) -> None:
    photo = tmp_path / "agency.jpg"
    make_jpeg(photo)
    _write_with_exiv(photo, iptc={"Iptc.Application2.Keywords": ["press", "election"],
                                  "Iptc.Application2.ObjectName": "Count night",
                                  "Iptc.Application2.Caption": "Volunteers count the ballots"})  # fmt: skip
    only_iptc = read_xmp(str(photo), [], fmt="jpeg")
    assert only_iptc.sources == ["iptc"]
    assert only_iptc.data.keywords == ["press", "election"] and only_iptc.data.title == "Count night"
    assert only_iptc.data.description == "Volunteers count the ballots"
    assert "election" in (only_iptc.data.text() or "")
    _write_with_exiv(photo, xmp={"Xmp.dc.title": {'lang="x-default"': "Election night"}})
    both = read_xmp(str(photo), [], fmt="jpeg")
    assert both.sources == ["embedded", "iptc"]
    assert both.data.title == "Election night"  # XMP over IPTC, field by field
    assert both.data.keywords == ["press", "election"]


def test_metadata_exiv2_cannot_read_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    photo = tmp_path / "fake.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    result = read_xmp(str(photo), [], fmt="png")
    assert result.data.is_empty() and result.problems and result.problems[0].startswith("embedded metadata:")


PEOPLE = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <rdf:Description rdf:about="" xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
   xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#" xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#"
   xmlns:MP="http://ns.microsoft.com/photo/1.2/" xmlns:MPRI="http://ns.microsoft.com/photo/1.2/t/RegionInfo#"
   xmlns:MPReg="http://ns.microsoft.com/photo/1.2/t/Region#"
   xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <dc:subject><rdf:Bag><rdf:li>beach</rdf:li></rdf:Bag></dc:subject>
  <mwg-rs:Regions rdf:parseType="Resource">
   <mwg-rs:AppliedToDimensions stDim:w="4000" stDim:h="3000" stDim:unit="pixel"/>
   <mwg-rs:RegionList><rdf:Bag>
    <rdf:li><rdf:Description mwg-rs:Name="Anna Smith" mwg-rs:Type="Face">
     <mwg-rs:Area stArea:x="0.5" stArea:y="0.4" stArea:w="0.1" stArea:h="0.15" stArea:unit="normalized"/>
    </rdf:Description></rdf:li>
    <rdf:li><rdf:Description mwg-rs:Name="Rex" mwg-rs:Type="Pet"/></rdf:li>
    <rdf:li rdf:parseType="Resource"><mwg-rs:Name>Bo Chen</mwg-rs:Name><mwg-rs:Type>Face</mwg-rs:Type></rdf:li>
   </rdf:Bag></mwg-rs:RegionList>
  </mwg-rs:Regions>
  <MP:RegionInfo rdf:parseType="Resource"><MPRI:Regions><rdf:Bag>
   <rdf:li MPReg:PersonDisplayName="Carla Diaz" MPReg:Rectangle="0.1, 0.1, 0.2, 0.2"/>
  </rdf:Bag></MPRI:Regions></MP:RegionInfo>
  <Iptc4xmpExt:PersonInImage><rdf:Bag><rdf:li>Anna Smith</rdf:li><rdf:li>Dev Patel</rdf:li></rdf:Bag>
  </Iptc4xmpExt:PersonInImage>
 </rdf:Description></rdf:RDF></x:xmpmeta>"""


def test_people_from_face_regions_and_person_in_image() -> None:
    data = parse_xmp(PEOPLE)
    assert data.people == ["Anna Smith", "Bo Chen", "Carla Diaz", "Dev Patel"]  # the pet region is not a person
    assert data.keywords == ["beach"]
    assert "anna smith" in data.terms() and "Bo Chen" in (data.text() or "")
