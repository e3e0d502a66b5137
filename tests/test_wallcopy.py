"""The protocol's wall copy (issue 13, item 7): rendered to PDF and read back with
poppler's pdftotext/pdfimages, in Kazakh and in Russian: every numbered line,
every name and signature line, the dissent and the time of signing; the QR code
carries exactly the signed protocol and sits beside the signatures on their page."""

from __future__ import annotations

import io
import re
import subprocess
import zlib
from pathlib import Path

import pytest
from PIL import Image

from sailau.ballot_box.outputs import qr_payload, qr_png
from sailau.ballot_box.wallcopy import PRECINCT_LINES, SIGNATURE_LINE, TEXT, protocol_lines, wall_copy_pdf
from sailau.election.cosign import check_cosignatures, cosign, protocol_digest
from sailau.election.members import ROLE_TITLES, Member, Role
from sailau.election import crypto

from test_cosign import AT, NAMES, rig, run, sigs  # noqa: F401 - rig is a fixture

DISSENT = "Не согласна с итогами: две карты погашены без акта,\nурна опечатана с опозданием на 10 минут."


def pdf_text(pdf: Path, *args: str) -> str:
    return subprocess.run(["pdftotext", *args, str(pdf), "-"], check=True, capture_output=True, text=True).stdout


def pages(pdf: Path) -> list[str]:
    return pdf_text(pdf, "-raw").split("\f")[:-1]


def image_pages(pdf: Path) -> list[int]:
    listing = subprocess.run(["pdfimages", "-list", str(pdf)], check=True, capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in listing.splitlines()[2:] if line.strip()]


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def copies(rig, tmp_path_factory) -> dict[str, Path]:  # noqa: F811
    d = tmp_path_factory.mktemp("wall")
    protocol = d / "protocol.json"
    protocol.write_bytes(rig.signed.to_canonical_json())
    dissent = d / "dissent.txt"
    dissent.write_text(DISSENT, encoding="utf-8")
    for i, role in ((0, "chair"), (1, "deputy_chair"), (2, "secretary")):
        extra = ["--dissent-file", dissent] if i == 2 else []
        assert run("protocol", "cosign", protocol, "--key-file", rig.dir / f"m{i}.key", "--role", role, *extra).exit_code == 0
    out = {}
    for lang in ("kk", "ru"):
        out[lang] = d / f"wall-{lang}.pdf"
        result = run("protocol", "wallcopy", protocol, "--election", rig.dir / "election.json", "--lang", lang,
                     "--registry", rig.dir / "stations.json", "--out", out[lang])
        assert result.exit_code == 0, result.output
        assert "3 of 5 members co-signed" in result.output
    return out


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_every_line_name_and_signature_line_is_on_the_wall_copy(rig, copies, lang: str) -> None:  # noqa: F811
    text = flat(pdf_text(copies[lang], "-raw"))
    election = rig.election
    assert TEXT["title"][lang] in text and election.name.get(lang) in text
    assert f"{TEXT['precinct'][lang]} 7101" in text
    assert election.precinct(7101).address.get(lang) in text
    sections = protocol_lines(rig.signed, election, lang)
    numbered = [ln for s in sections for ln in s.lines]
    assert [ln.number for ln in numbered] == list(range(1, len(numbered) + 1))
    assert len(numbered) == len(PRECINCT_LINES) + sum(len(election.options(c.contest_id)) + 3
                                                     for c in rig.signed.protocol.contests)
    for ln in numbered:
        assert f"{ln.number} {ln.label} {ln.value}" in text, (ln, lang)
    for s in sections[1:]:
        assert s.title in text
    for contest in rig.signed.protocol.contests:  # names, never ids
        assert contest.contest_id not in text
        for option in election.options(contest.contest_id):
            assert option.name.get(lang) in text
            if "-" in option.id:
                assert option.id not in text
    other = "ru" if lang == "kk" else "kk"
    assert TEXT["title"][other] not in text and PRECINCT_LABEL_OTHER[other] not in text

    for m in rig.members:
        assert f"{ROLE_TITLES[lang][m.role]} {m.name}" in text
    assert rig.foreign.name not in text  # another precinct's commission is not this one
    assert text.count(SIGNATURE_LINE) == len(rig.members)
    assert text.count(TEXT["e_signed"][lang]) == 3 and text.count(TEXT["not_signed"][lang]) == 2
    assert TEXT["stamp"][lang] in text
    assert flat(DISSENT) in text and TEXT["dissents"][lang] in text
    assert f"{TEXT['signed_at'][lang]}: " in text and "(Asia/Almaty, UTC+" in text
    assert protocol_digest(rig.signed.to_canonical_json()) in text


PRECINCT_LABEL_OTHER = {"kk": "Сайлаушылардың негізгі тізіміне", "ru": "Число избирателей, внесённых"}


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_the_qr_code_is_beside_the_signatures_on_their_page(copies, lang: str) -> None:
    pdf = copies[lang]
    texts = pages(pdf)
    assert image_pages(pdf) and all(SIGNATURE_LINE in texts[n - 1] for n in image_pages(pdf))
    # beside: the QR's caption starts right of where the signature lines end, level with them
    bbox = pdf_text(pdf, "-bbox")
    words = [(float(x0), float(y0), float(x1), w) for x0, y0, x1, w in
             re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>', bbox)]
    lines = [w for w in words if w[3] == SIGNATURE_LINE]
    caption = next(w for w in words if w[3] == "QR:")
    assert lines and caption[0] > max(x1 for _, _, x1, _ in lines)
    assert min(y0 for _, y0, _, _ in lines) < caption[1] < max(y0 for _, y0, _, _ in lines) + 80  # level with the lines


def test_the_qr_code_carries_exactly_the_signed_protocol(rig, copies, tmp_path: Path) -> None:  # noqa: F811
    subprocess.run(["pdfimages", "-png", str(copies["ru"]), str(tmp_path / "img")], check=True)
    (image,) = sorted(tmp_path.glob("img-*.png"))
    shown = Image.open(image).convert("1")
    encoded = Image.open(io.BytesIO(qr_png(rig.signed))).convert("1")
    assert shown.size == encoded.size and shown.tobytes() == encoded.tobytes()
    assert qr_payload(rig.signed) == rig.signed.to_canonical_json()
    scanned = tmp_path / "scanned.txt"
    scanned.write_bytes(qr_payload(rig.signed) + b"\n")  # as a scanner types it, Enter included
    out = run("protocol", "verify", scanned, "--election", rig.dir / "election.json", "--registry", rig.dir / "stations.json",
              *[a for c in sorted(copies["ru"].parent.glob("protocol.*.cosig")) for a in ("--cosig", c)])
    assert out.exit_code == 0, out.output


def content_streams(pdf: bytes) -> list[bytes]:
    out = []
    for m in re.finditer(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        try:
            out.append(zlib.decompress(m.group(1)))
        except zlib.error:
            continue
    return out


def test_no_text_is_justified(copies) -> None:
    """fpdf2 justifies multi_cell text by default, spreading words with TJ offsets."""
    for pdf in copies.values():
        streams = [s for s in content_streams(pdf.read_bytes()) if b"BT" in s]
        assert streams and not any(b"TJ" in s for s in streams)


def test_a_long_wall_copy_keeps_the_qr_code_with_the_signatures(rig, tmp_path: Path) -> None:  # noqa: F811
    keys = [crypto.generate_signing_key() for _ in range(11)]
    roles = [Role.CHAIR, Role.DEPUTY_CHAIR, Role.SECRETARY] + [Role.MEMBER] * 8
    members = [Member(7101, r, f"Член комиссии номер {i + 1} Ұзақ Есімді Тегі", crypto.ed25519_public_bytes(k.public_key()))
               for i, (r, k) in enumerate(zip(roles, keys))]
    long_dissent = ("Особое мнение. " * 250).strip()
    cosigs = [(f"m{i}", cosign(rig.signed, keys[i], roles[i], when=AT, dissent=long_dissent if i < 2 else None)) for i in range(6)]
    check = check_cosignatures(rig.signed, cosigs, members)
    assert check.ok
    pdf = tmp_path / "long.pdf"
    pdf.write_bytes(wall_copy_pdf(rig.signed, rig.election, "ru", members, check, "0" * 64))
    texts = pages(pdf)
    assert len(texts) >= 2
    (qr_page,) = image_pages(pdf)
    assert flat(texts[qr_page - 1]).count(SIGNATURE_LINE) == 11  # every signature line on the QR's page
    assert all(m.name in texts[qr_page - 1] for m in members)
    assert flat("".join(texts)).count(flat(long_dissent)) == 2


def test_unknown_printing_language_is_refused(rig, tmp_path: Path) -> None:  # noqa: F811
    out = run("protocol", "wallcopy", rig.dir / "protocol.json", "--election", rig.dir / "election.json", "--lang", "de",
              "--registry", rig.dir / "stations.json", "--out", tmp_path / "x.pdf")
    assert out.exit_code == 2 and not (tmp_path / "x.pdf").exists()
    out = run("protocol", "wallcopy", rig.dir / "protocol.json", "--election", rig.dir / "election.json", "--lang", "kk",
              "--out", tmp_path / "x.pdf")
    assert out.exit_code == 2 and "--registry or --members" in out.output
