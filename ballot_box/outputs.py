"""What close of polls writes to its output folder (DESIGN.md §7):

- ``protocol.json``: the signed protocol, canonical JSON (`SignedProtocol.to_canonical_json`),
  exactly the bytes `sailau protocol verify` and the commissions read;
- ``protocol.nist.json``: NIST SP 1500-100 v2 precinct-level results report of every
  contest kind (party lists, single-member seats, the presidential race, referendum
  questions; mapping in ``sailau.election.nist``);
- ``protocol.pdf``: the printable protocol (kk/ru/en labels, DejaVu Sans for
  Cyrillic and Kazakh letters) with a QR code carrying the whole signed protocol
  in canonical JSON, so an observer who photographs the posted sheet can check
  the station signature and every number offline;
- ``wall-kk.pdf``, ``wall-ru.pdf``: the wall copies (wallcopy.py), when the
  commission's members are given (close of polls gives the station's);
- ``receipts.json``: every stored ballot's receipt code, shuffled, in the
  published receipt-list format of ``sailau.election.receipts``
  with the OS CSPRNG (`secrets.SystemRandom`) so the list order says nothing.

No public output ties a receipt code to a ballot's content or validity: the receipt
list is only codes, and the PDF counts invalid ballots by reason ("index_out_of_range:
2"), never by code. Otherwise a voter's code, once shown to anyone (a coercer, a
buyer), would tell them whether that ballot was spoilt.

Files are written to a temporary name, fsynced and renamed, so a crash never
leaves a half-written protocol behind.
"""

from __future__ import annotations

import io
import json
import os
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import matplotlib
import segno
from fpdf import FPDF

from sailau.election.definition import Election
from sailau.election.members import Member
from sailau.election.nist import nist_results_report
from sailau.election.protocol import SignedProtocol
from sailau.election.receipts import ReceiptList

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONT_REGULAR = FONT_DIR / "DejaVuSans.ttf"
FONT_BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"
QR_ERROR = "m"


class OutputError(Exception):
    """An output could not be produced (the message names which and why)."""


@dataclass(frozen=True)
class OutputFiles:
    protocol: Path
    nist: Path
    pdf: Path
    receipts: Path
    wall_copies: tuple[Path, ...] = ()  # wall-kk.pdf, wall-ru.pdf (wallcopy.py)


def atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def shuffled_receipts(codes: Iterable[str]) -> list[str]:
    out = list(codes)
    secrets.SystemRandom().shuffle(out)
    return out


def qr_payload(signed: SignedProtocol) -> bytes:
    """What the QR code carries: the signed protocol's canonical bytes (verifiable as is)."""
    return signed.to_canonical_json()


def qr_png(signed: SignedProtocol, scale: int = 4) -> bytes:
    try:
        qr = segno.make_qr(qr_payload(signed), error=QR_ERROR, boost_error=False)
    except segno.DataOverflowError as exc:
        raise OutputError(f"signed protocol ({len(qr_payload(signed))} bytes) does not fit one QR code: {exc}") from None
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def invalid_by_reason(reasons: Iterable[str]) -> list[tuple[str, int]]:
    """How many invalid ballots per reason, reasons in sorted order (no receipt codes)."""
    return sorted(Counter(reasons).items())


def protocol_pdf(signed: SignedProtocol, election: Election, invalid: Sequence[str] = ()) -> bytes:
    """The printable protocol: header, count lines, per-contest table, signature, QR code.

    `invalid`: the reason of each invalid ballot; printed as counts per reason."""
    p = signed.protocol
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font("DejaVu", "", str(FONT_REGULAR))
    pdf.add_font("DejaVu", "B", str(FONT_BOLD))
    pdf.add_page()
    pdf.set_title(f"Protocol, precinct {p.precinct}")
    pdf.set_font("DejaVu", "B", 13)
    name = election.name
    pdf.multi_cell(0, 7, f"{name.kk}\n{name.ru}\n{name.en}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    pdf.multi_cell(0, 5, f"Учаскелік сайлау комиссиясының хаттамасы / Протокол участковой избирательной комиссии / "
                         f"Precinct results protocol: precinct {p.precinct}, region {p.region}"
                         + (f", district {p.district}" if p.district else "") + f", {election.date.isoformat()}",
                   new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    rows = [
        ("Тізімдегі сайлаушылар / Избирателей в списке / Voters on the list", p.voters_on_list),
        ("Тіркелген / Отмечено / Voters checked in", p.voters_checked_in),
        ("Берілген карталар / Выдано карт / Cards issued", p.cards_issued),
        ("Берілген бюллетеньдер / Бюллетеней в ящике / Ballots cast", p.ballots_cast),
        ("Жойылған карталар / Погашено карт / Cards cancelled", p.cards_cancelled),
        ("Ауыстырылған карталар / Заменено карт / Cards replaced", p.cards_replaced),
        ("оның ішінде қайтарылмаған / из них не возвращено / of which not handed back", p.cards_not_returned),
    ]
    if p.paper is not None:  # format 4: the paper protocol's lines (the wall copies carry the full form)
        q = p.paper
        rows += [
            ("Қосымша тізімдегі сайлаушылар / В дополнительном списке / On the additional list", p.voters_additional),
            ("Алынған қағаз бюллетеньдер / Получено бумажных бюллетеней / Paper ballots received", q.received),
            ("Үй-жайда берілген / Выдано в помещении / Issued in the station", q.issued_in_station),
            ("Үй-жайдан тыс берілген / Выдано вне помещения / Issued outside", q.issued_outside),
            ("Бүлінген / Испорчено / Spoiled", q.spoiled),
            ("Пайдаланылмаған, жойылған / Не использовано, погашено / Unused, cancelled", q.unused),
            ("Тұрақты жәшіктерде / В стационарных ящиках / Found in the stationary box", q.found_stationary),
            ("Жылжымалы жәшіктерде / В переносных ящиках / Found in the mobile box", q.found_mobile),
            ("Есепке алынған бюллетеньдер / Учтено бюллетеней / Ballots counted", p.ballots_counted),
        ]
    _table(pdf, rows)
    if p.discrepancies:  # the station signed a count that breaks these relations (close.py): say so on the wall
        pdf.set_font("DejaVu", "B", 9)
        pdf.multi_cell(0, 5, "Орындалмаған бақылау арақатынастары / Нарушенные контрольные соотношения / "
                             "Control relations that fail: " + ", ".join(p.discrepancies), new_x="LMARGIN", new_y="NEXT")
    for contest in p.contests:
        pdf.ln(2)
        pdf.set_font("DejaVu", "B", 10)
        definition = election.contest(contest.contest_id)
        pdf.multi_cell(0, 5, f"{definition.name.kk} / {definition.name.ru} / {definition.name.en}",
                       new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 9)
        lines = [(election.option_label(contest.contest_id, option.id, "ru") + f"  ({option.id})",
                  contest.votes.get(option.id, 0)) for option in election.options(contest.contest_id)]
        if definition.against_all:
            lines.append(("Барлығына қарсы / Против всех / Against all", contest.against_all))
        lines.append(("Бос / Пустые / Blank", contest.blank))
        lines.append(("Жарамсыз / Недействительные / Invalid", contest.invalid))
        _table(pdf, lines)
    if invalid:
        pdf.ln(2)
        pdf.set_font("DejaVu", "", 8)
        pdf.multi_cell(0, 4, "Жарамсыз бюллетеньдер себебі бойынша / Недействительные бюллетени по причинам / "
                             "Invalid ballots by reason: "
                       + "; ".join(f"{reason}: {count}" for reason, count in invalid_by_reason(invalid)),
                       new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("DejaVu", "", 8)
    pdf.multi_cell(0, 4, f"Election fingerprint SHA-256: {p.election_fingerprint}\n"
                         f"Station key {signed.station_key_id.hex()}: {signed.public_key.hex()}\n"
                         f"Ed25519 signature: {signed.signature.hex()}\n"
                         + (f"Audit log head at close: event {p.audit.seq}, SHA-256 {p.audit.hash}\n" if p.audit else "")
                         + "QR: the signed protocol (canonical JSON); check with `sailau protocol verify`.",
                   new_x="LMARGIN", new_y="NEXT")
    png = qr_png(signed)
    size = 80
    if pdf.get_y() + size > pdf.h - pdf.b_margin:
        pdf.add_page()
    pdf.image(io.BytesIO(png), x=(pdf.w - size) / 2, y=pdf.get_y() + 2, w=size, h=size)
    return bytes(pdf.output())


def _table(pdf: FPDF, rows: Sequence[tuple[str, int]]) -> None:
    width = pdf.w - pdf.l_margin - pdf.r_margin
    for label, value in rows:
        pdf.cell(width - 30, 5.5, label, border=1)
        pdf.cell(30, 5.5, str(value), border=1, align="R", new_x="LMARGIN", new_y="NEXT")


def write_outputs(
    out_dir: Path,
    signed: SignedProtocol,
    election: Election,
    receipt_codes: Iterable[str],
    *,
    invalid: Sequence[str] = (),
    issuer: str | None = None,
    members: Sequence[Member] | None = None,
) -> OutputFiles:
    """Write the four files (see the module doc) into `out_dir` (created if missing) and,
    given the commission's `members` (the station's; () prints no member rows), the wall
    copies in kk and ru beside them (wallcopy.py)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    p = signed.protocol
    files = OutputFiles(out_dir / "protocol.json", out_dir / "protocol.nist.json", out_dir / "protocol.pdf",
                        out_dir / "receipts.json")
    atomic_write(files.protocol, signed.to_canonical_json())
    report = nist_results_report([p], election, issuer=issuer or f"Precinct election commission {p.precinct}",
                                 issuer_abbreviation=f"PEC-{p.precinct}")
    atomic_write(files.nist, (json.dumps(report, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
    atomic_write(files.pdf, protocol_pdf(signed, election, invalid))
    receipts = ReceiptList(election.id, election.fingerprint_hex, p.precinct, tuple(shuffled_receipts(receipt_codes)))
    atomic_write(files.receipts, receipts.to_json_bytes())
    if members is not None:
        from .wallcopy import write_wall_copies  # wallcopy draws with this module's fonts and QR code

        files = replace(files, wall_copies=write_wall_copies(out_dir, signed, election, members))
    return files
