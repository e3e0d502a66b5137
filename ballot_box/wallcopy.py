"""The protocol's wall copy: the one A4 layout a precinct commission posts at the
station and hands to observers, in one printing language (kk or ru; en for
foreign observers), chosen per copy.

What it holds, top to bottom: the title, the election and its date, the
precinct's number and address (from the election definition, which has carried
the address since format 1), the numbered lines (`protocol_lines`), control
relations the station declared failing, the commission's dissenting opinions
(each member's signed text, in full), then one block that is never split over
two pages: the members with role, name, a signature line and the time each
co-signed electronically, and beside them the QR code of the signed protocol
and the place for the stamp. The block moves whole to a new page when it does
not fit, so the QR code is never alone on a page. Text is left-aligned (fpdf2's
multi_cell justifies by default; every call here says align="L").

Names are printed in the printing language from the definition (parties,
candidates, contest, region, address); ids never. The QR code carries exactly
`outputs.qr_payload` (the signed protocol's canonical bytes), which `sailau
protocol verify` accepts as a scanner gives it, a trailing newline included.

Line numbering: the precinct lines are `PRECINCT_LINES` in the official form's
order, then each contest's options, against all, blank and invalid, numbered
on in one sequence. Lines are identified by key, so the paper-ballot and
mobile-box lines of the full Kazakh form slot into `PRECINCT_LINES` later and
every number after them follows.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from fpdf import FPDF

from sailau.election.cosign import CosignCheck
from sailau.election.definition import Election
from sailau.election.members import Member
from sailau.election.protocol import SignedProtocol

from .outputs import FONT_BOLD, FONT_REGULAR, qr_png

LANGUAGES = ("kk", "ru", "en")

#: (protocol field, label per language), in the order of the official form.
PRECINCT_LINES: tuple[tuple[str, dict[str, str]], ...] = (
    ("voters_on_list", {"kk": "Сайлаушылар тізіміне енгізілген сайлаушылар саны",
                        "ru": "Число избирателей, внесённых в список избирателей",
                        "en": "Voters on the list"}),
    ("voters_checked_in", {"kk": "Бюллетень алған сайлаушылар саны",
                           "ru": "Число избирателей, получивших бюллетени",
                           "en": "Voters who received a ballot"}),
    ("cards_issued", {"kk": "Берілген электрондық бюллетень карталарының саны",
                      "ru": "Число выданных карт электронного бюллетеня",
                      "en": "Ballot cards issued"}),
    ("cards_replaced", {"kk": "Ауыстырылған карталар саны", "ru": "Число заменённых карт",
                        "en": "Cards replaced"}),
    ("cards_not_returned", {"kk": "оның ішінде қайтарылмағандары", "ru": "из них не возвращённых",
                            "en": "of which not handed back"}),
    ("cards_cancelled", {"kk": "Жойылған карталар саны", "ru": "Число погашенных карт",
                         "en": "Cards cancelled"}),
    ("ballots_cast", {"kk": "Жәшіктегі электрондық бюллетеньдер саны",
                      "ru": "Число электронных бюллетеней в ящике",
                      "en": "Electronic ballots in the box"}),
)

TEXT = {
    "title": {"kk": "Учаскелік сайлау комиссиясының дауыс беру қорытындылары туралы ХАТТАМАСЫ",
              "ru": "ПРОТОКОЛ участковой избирательной комиссии об итогах голосования",
              "en": "PROTOCOL of the precinct election commission on the results of the vote"},
    "wall": {"kk": "Көпшілікке арналған көшірме", "ru": "Копия для всеобщего ознакомления", "en": "Copy for public display"},
    "precinct": {"kk": "Сайлау учаскесі №", "ru": "Избирательный участок №", "en": "Precinct No."},
    "address": {"kk": "Мекенжайы", "ru": "Адрес", "en": "Address"},
    "region": {"kk": "Өңір", "ru": "Регион", "en": "Region"},
    "district": {"kk": "Округ", "ru": "Округ", "en": "District"},
    "date": {"kk": "Сайлау күні", "ru": "День голосования", "en": "Election day"},
    "no": {"kk": "№", "ru": "№", "en": "No."},
    "line": {"kk": "Жол", "ru": "Строка", "en": "Line"},
    "count": {"kk": "Саны", "ru": "Число", "en": "Count"},
    "against_all": {"kk": "Барлығына қарсы", "ru": "Против всех", "en": "Against all"},
    "blank": {"kk": "Бос бюллетеньдер", "ru": "Пустые бюллетени", "en": "Blank ballots"},
    "invalid": {"kk": "Жарамсыз бюллетеньдер", "ru": "Недействительные бюллетени", "en": "Invalid ballots"},
    "discrepancies": {"kk": "Станция орындалмаған деп көрсеткен бақылау арақатынастары",
                      "ru": "Контрольные соотношения, которые станция указала как нарушенные",
                      "en": "Control relations the station declared failing"},
    "dissents": {"kk": "Комиссия мүшелерінің ерекше пікірлері", "ru": "Особые мнения членов комиссии",
                 "en": "Dissenting opinions of commission members"},
    "no_dissent": {"kk": "Ерекше пікір жоқ", "ru": "Особых мнений нет", "en": "No dissenting opinions"},
    "members": {"kk": "Комиссия мүшелері", "ru": "Члены комиссии", "en": "Commission members"},
    "signature": {"kk": "қолы", "ru": "подпись", "en": "signature"},
    "e_signed": {"kk": "электрондық қол қойды", "ru": "подписано электронно", "en": "signed electronically"},
    "signed_at": {"kk": "Хаттамаға қол қойылған уақыт", "ru": "Время подписания протокола", "en": "Time of signing"},
    "not_signed": {"kk": "электрондық қол қойылмаған", "ru": "электронной подписи нет", "en": "not signed electronically"},
    "stamp": {"kk": "М.О.", "ru": "М.П.", "en": "Stamp"},
    "qr": {"kk": "QR: қол қойылған хаттама (sailau protocol verify)",
           "ru": "QR: подписанный протокол (sailau protocol verify)",
           "en": "QR: the signed protocol (sailau protocol verify)"},
    "station": {"kk": "Станция кілті", "ru": "Ключ станции", "en": "Station key"},
    "digest": {"kk": "Хаттама файлының SHA-256", "ru": "SHA-256 файла протокола", "en": "SHA-256 of the protocol file"},
}

SIGNATURE_LINE = "_" * 22
MARGIN = 15.0
QR_SIZE = 62.0


class WallCopyError(ValueError):
    """The wall copy cannot be made (the message says why)."""


@dataclass(frozen=True)
class Line:
    number: int
    key: str  # "voters_on_list", "contest:<id>:option:<oid>", "contest:<id>:against_all", ...
    label: str
    value: int


@dataclass(frozen=True)
class Section:
    title: str | None  # the contest's name; None for the precinct lines
    lines: tuple[Line, ...]


def protocol_lines(signed: SignedProtocol, election: Election, lang: str) -> list[Section]:
    """The numbered lines of the protocol in `lang`, in the form's order."""
    if lang not in LANGUAGES:
        raise WallCopyError(f"printing language must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    p = signed.protocol
    number = 0

    def line(key: str, label: str, value: int) -> Line:
        nonlocal number
        number += 1
        return Line(number, key, label, value)

    sections = [Section(None, tuple(line(key, labels[lang], getattr(p, key)) for key, labels in PRECINCT_LINES))]
    for contest in p.contests:
        definition = election.contest(contest.contest_id)
        lines = [line(f"contest:{contest.contest_id}:option:{o.id}", o.name.get(lang), contest.votes.get(o.id, 0))
                 for o in election.options(contest.contest_id)]
        if definition.against_all:
            lines.append(line(f"contest:{contest.contest_id}:against_all", TEXT["against_all"][lang], contest.against_all))
        lines.append(line(f"contest:{contest.contest_id}:blank", TEXT["blank"][lang], contest.blank))
        lines.append(line(f"contest:{contest.contest_id}:invalid", TEXT["invalid"][lang], contest.invalid))
        sections.append(Section(definition.name.get(lang), tuple(lines)))
    return sections


def _signed_time(check: CosignCheck | None) -> str | None:
    """The time the protocol became the commission's: the co-signature that made the majority."""
    if check is None or not check.majority:
        return None
    times = sorted(c.signed_at for _, c in check.valid)
    at = times[len(check.enrolled) // 2]
    return f"{at.strftime('%Y-%m-%d %H:%M')} ({check.valid[0][1].time_zone}, UTC{at.strftime('%z')[:3]}:{at.strftime('%z')[3:]})"


def wall_copy_pdf(signed: SignedProtocol, election: Election, lang: str, members: Sequence[Member],
                  check: CosignCheck | None = None, digest: str | None = None) -> bytes:
    """The wall copy (see the module docstring). `members`: the precinct's commission
    (from the registry or the station's members file), printed in role order with a
    signature line each; `check`: the co-signatures checked (`cosign.check_cosignatures`),
    whose valid ones mark who signed electronically and when, and whose dissents are printed."""
    sections = protocol_lines(signed, election, lang)
    p = signed.protocol
    t = {k: v[lang] for k, v in TEXT.items()}
    pdf = FPDF(format="A4")
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(auto=True, margin=MARGIN)
    pdf.add_font("DejaVu", "", str(FONT_REGULAR))
    pdf.add_font("DejaVu", "B", str(FONT_BOLD))
    pdf.set_title(f"{t['title']} {p.precinct}")
    pdf.add_page()
    width = pdf.w - 2 * MARGIN

    def para(text: str, size: float = 10, style: str = "", h: float = 5.0, align: str = "L") -> None:
        pdf.set_font("DejaVu", style, size)
        pdf.multi_cell(width, h, text, align=align, new_x="LMARGIN", new_y="NEXT")

    para(t["wall"], 8, align="R")
    para(t["title"], 12, "B", 6, align="C")
    para(election.name.get(lang), 11, "B", 6, align="C")
    pdf.ln(1)
    precinct = election.precinct(p.precinct)
    regions = {r.code: r for r in election.territory.regions}
    districts = {d.code: d for d in election.territory.districts}
    para(f"{t['precinct']} {p.precinct}", 11, "B")
    para(f"{t['address']}: {precinct.address.get(lang)}")
    where = f"{t['region']}: {regions[p.region].name.get(lang) if p.region in regions else p.region}"
    if p.district:
        where += f"; {t['district']}: {districts[p.district].name.get(lang) if p.district in districts else p.district}"
    para(where)
    para(f"{t['date']}: {election.date.isoformat()}")
    pdf.ln(2)

    number_w, count_w = 12.0, 26.0
    label_w = width - number_w - count_w

    def row(no: str, label: str, value: str, bold: bool = False) -> None:
        pdf.set_font("DejaVu", "B" if bold else "", 9)
        lines = pdf.multi_cell(label_w, 5, label, dry_run=True, output="LINES")
        h = 5 * max(1, len(lines))
        if pdf.get_y() + h > pdf.h - pdf.b_margin:
            pdf.add_page()
        x, y = pdf.get_x(), pdf.get_y()
        pdf.cell(number_w, h, no, border=1, align="C")
        pdf.multi_cell(label_w, 5, label, border=1, align="L", new_x="RIGHT", new_y="TOP", max_line_height=5)
        pdf.set_xy(x + number_w + label_w, y)
        pdf.cell(count_w, h, value, border=1, align="R", new_x="LMARGIN", new_y="NEXT")

    row(t["no"], t["line"], t["count"], bold=True)
    for section in sections:
        if section.title is not None:
            pdf.set_font("DejaVu", "B", 9)
            pdf.multi_cell(width, 6, section.title, border=1, align="L", new_x="LMARGIN", new_y="NEXT")
        for ln in section.lines:
            row(str(ln.number), ln.label, str(ln.value))

    if p.discrepancies:
        pdf.ln(2)
        para(f"{t['discrepancies']}: " + ", ".join(p.discrepancies), 9, "B")
    pdf.ln(2)
    para(t["dissents"], 10, "B")
    dissents = check.dissents() if check is not None else []
    if not dissents:
        para(t["no_dissent"], 9)
    for member, c in dissents:
        para(f"{member.title(lang)} {member.name} ({c.signed_at.strftime('%Y-%m-%d %H:%M')}):", 9, "B")
        para(c.dissent or "", 9)

    signed_by = {m.key_id: c for m, c in (check.valid if check is not None else ())}
    _signature_block(pdf, t, lang, members, signed_by, _signed_time(check), signed, width)

    pdf.ln(2)
    para(f"{t['station']} {signed.station_key_id.hex()}; {t['digest']}: {digest or ''}", 7)
    return bytes(pdf.output())


def _signature_block(pdf: FPDF, t: dict[str, str], lang: str, members: Sequence[Member], signed_by: dict,
                     signed_time: str | None, signed: SignedProtocol, width: float) -> None:
    """Members with signature lines (left) and the QR code and stamp (right), on one page."""
    row_h = 11.0
    left_w = width - QR_SIZE - 6
    header_h = 14.0
    height = header_h + max(row_h * max(1, len(members)), QR_SIZE + 22)
    if pdf.get_y() + height > pdf.h - pdf.b_margin:
        pdf.add_page()
    pdf.ln(3)
    pdf.set_font("DejaVu", "B", 10)
    pdf.multi_cell(width, 5, f"{t['signed_at']}: {signed_time or '____ . ____ . ________  ____ : ____'}", align="L",
                   new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(left_w, 6, t["members"], align="L", new_x="LMARGIN", new_y="NEXT")
    top = pdf.get_y()
    qr_x = pdf.l_margin + left_w + 6
    pdf.image(io.BytesIO(qr_png(signed)), x=qr_x, y=top, w=QR_SIZE, h=QR_SIZE)
    pdf.set_xy(qr_x, top + QR_SIZE + 1)
    pdf.set_font("DejaVu", "", 6.5)
    pdf.multi_cell(QR_SIZE, 3, t["qr"], align="L", new_x="LEFT", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    stamp_y = pdf.get_y() + 2
    pdf.ellipse(qr_x + QR_SIZE / 2 - 11, stamp_y, 22, 22)
    pdf.set_xy(qr_x + QR_SIZE / 2 - 11, stamp_y + 8)
    pdf.cell(22, 6, t["stamp"], align="C")
    y = top
    name_w = left_w - 48
    for m in members:
        c = signed_by.get(m.key_id)
        pdf.set_xy(pdf.l_margin, y)
        pdf.set_font("DejaVu", "", 7.5)
        pdf.cell(name_w, 4, m.title(lang), align="L")
        pdf.set_xy(pdf.l_margin, y + 4)
        pdf.set_font("DejaVu", "B", 9)
        pdf.cell(name_w, 5, m.name, align="L")
        pdf.set_xy(pdf.l_margin + name_w, y + 3)
        pdf.set_font("DejaVu", "", 9)
        pdf.cell(48, 5, SIGNATURE_LINE, align="L")
        pdf.set_xy(pdf.l_margin + name_w, y + 7.5)
        pdf.set_font("DejaVu", "", 6.5)
        mark = f"{t['e_signed']} {c.signed_at.strftime('%H:%M')}" if c is not None else t["not_signed"]
        pdf.cell(48, 3, f"({t['signature']}) {mark}", align="L")
        y += row_h
    pdf.set_xy(pdf.l_margin, max(y, stamp_y + 24))
