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

The three protocols (issue 13, item 5) on one copy: the combined protocol is
the table; its precinct lines (`PRECINCT_LINES`, the one table of line labels in
kk/ru/en, which the clerk's screens and `sailau protocol show` use too) are
the voters' lines, the paper protocol's lines (received, issued in the station
and outside, spoiled, unused, found in the stationary and mobile boxes) and the
electronic protocol's (cards issued, replaced, cancelled, ballots cast by card);
then each contest's options, against all, blank and invalid, numbered on in one
sequence. At a precinct that used paper each contest line shows three columns:
electronic, paper, total. `protocol_lines(..., protocol=ELECTRONIC|PAPER)`
gives the lines of the other two protocols alone. Lines are identified by key
(a hand count's lines use the same keys: `line_label`).

At close the station writes the wall copies in kk and ru beside the signed
protocol (`write_wall_copies`, `wall-kk.pdf`, `wall-ru.pdf`), and again after a
member co-signs on the station.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF

from sailau.election.cosign import CosignCheck, protocol_digest
from sailau.election.definition import Election
from sailau.election.members import Member
from sailau.election.protocol import ContestResult, Protocol, SignedProtocol

from .outputs import FONT_BOLD, FONT_REGULAR, atomic_write, qr_png

LANGUAGES = ("kk", "ru", "en")

#: Which of the three protocols a line belongs to (the combined protocol holds every line).
ELECTRONIC, PAPER, COMBINED = "electronic", "paper", "combined"
PROTOCOLS = (ELECTRONIC, PAPER, COMBINED)


def _paper(field: str) -> Callable[[Protocol], int]:
    return lambda p: 0 if p.paper is None else getattr(p.paper, field)


@dataclass(frozen=True)
class LineDef:
    """One precinct line of the form: stable key, the protocols it belongs to, its value
    in a protocol, and its label in each printing language."""

    key: str
    protocols: tuple[str, ...]
    value: Callable[[Protocol], int]
    labels: Mapping[str, str]


_E, _P, _EP = (ELECTRONIC, COMBINED), (PAPER, COMBINED), (ELECTRONIC, PAPER, COMBINED)

#: The precinct lines in the order of the Kazakh precinct protocol (Constitutional Law
#: "On Elections", Art. 44; the electronic lines after the voters' lines, Art. 44-1,
#: confirm the form's exact order against the CEC's current form). Numbered in this
#: order, then each contest's lines (`protocol_lines`). The one table of line labels:
#: the clerk's screens and `sailau protocol show` use it too (`line_label`).
PRECINCT_LINES: tuple[LineDef, ...] = (
    LineDef("voters_main", _EP, lambda p: p.voters_on_list - p.voters_additional,
            {"kk": "Сайлаушылардың негізгі тізіміне енгізілген сайлаушылар саны",
             "ru": "Число избирателей, внесённых в основной список избирателей",
             "en": "Voters on the main list"}),
    LineDef("voters_additional", _EP, lambda p: p.voters_additional,
            {"kk": "Сайлаушылардың қосымша тізіміне енгізілген сайлаушылар саны",
             "ru": "Число избирателей, включённых в дополнительный список избирателей",
             "en": "Voters on the additional list"}),
    LineDef("paper_received", _P, _paper("received"),
            {"kk": "Учаскелік сайлау комиссиясы алған бюллетеньдер саны",
             "ru": "Число бюллетеней, полученных участковой избирательной комиссией",
             "en": "Paper ballots received by the commission"}),
    LineDef("paper_issued_in_station", _P, _paper("issued_in_station"),
            {"kk": "Дауыс беру үй-жайында сайлаушыларға берілген бюллетеньдер саны",
             "ru": "Число бюллетеней, выданных избирателям в помещении для голосования",
             "en": "Paper ballots issued to voters in the station"}),
    LineDef("paper_mobile_requests", _P, _paper("mobile_requests"),
            {"kk": "Дауыс беру үй-жайынан тыс жерде дауыс беруге берілген жазбаша өтініштер саны",
             "ru": "Число письменных заявлений о голосовании вне помещения для голосования",
             "en": "Written requests to vote outside the station"}),
    LineDef("paper_issued_outside", _P, _paper("issued_outside"),
            {"kk": "Дауыс беру үй-жайынан тыс жерде сайлаушыларға берілген бюллетеньдер саны",
             "ru": "Число бюллетеней, выданных избирателям вне помещения для голосования",
             "en": "Paper ballots issued to voters outside the station"}),
    LineDef("paper_spoiled", _P, _paper("spoiled"),
            {"kk": "Бүлінген бюллетеньдер саны", "ru": "Число испорченных бюллетеней",
             "en": "Spoiled paper ballots"}),
    LineDef("paper_unused", _P, _paper("unused"),
            {"kk": "Пайдаланылмаған және жойылған бюллетеньдер саны",
             "ru": "Число неиспользованных и погашенных бюллетеней",
             "en": "Unused paper ballots, cancelled"}),
    LineDef("voters_checked_in", _EP, lambda p: p.voters_checked_in,
            {"kk": "Дауыс беру үй-жайында бюллетень алған сайлаушылар саны",
             "ru": "Число избирателей, получивших бюллетени в помещении для голосования",
             "en": "Voters who received a ballot in the station"}),
    LineDef("voters_outside", _P, lambda p: p.voters_outside,
            {"kk": "Дауыс беру үй-жайынан тыс жерде дауыс берген сайлаушылар саны",
             "ru": "Число избирателей, проголосовавших вне помещения для голосования",
             "en": "Voters who voted outside the station"}),
    LineDef("cards_issued", _E, lambda p: p.cards_issued,
            {"kk": "Берілген электрондық бюллетень карталарының саны",
             "ru": "Число выданных карт электронного бюллетеня",
             "en": "Ballot cards issued"}),
    LineDef("cards_replaced", _E, lambda p: p.cards_replaced,
            {"kk": "Ауыстырылған карталар саны", "ru": "Число заменённых карт", "en": "Cards replaced"}),
    LineDef("cards_not_returned", _E, lambda p: p.cards_not_returned,
            {"kk": "оның ішінде қайтарылмағандары", "ru": "из них не возвращённых", "en": "of which not handed back"}),
    LineDef("cards_cancelled", _E, lambda p: p.cards_cancelled,
            {"kk": "Жойылған карталар саны", "ru": "Число погашенных карт", "en": "Cards cancelled"}),
    LineDef("ballots_cast", _E, lambda p: p.ballots_cast,
            {"kk": "Электрондық бюллетень картасымен дауыс берген сайлаушылар саны",
             "ru": "Число избирателей, проголосовавших картой электронного бюллетеня",
             "en": "Voters who voted by ballot card (electronic ballots in the box)"}),
    LineDef("paper_found_stationary", _P, _paper("found_stationary"),
            {"kk": "Тұрақты жәшіктерден табылған бюллетеньдер саны",
             "ru": "Число бюллетеней, обнаруженных в стационарных ящиках для голосования",
             "en": "Paper ballots found in the stationary box"}),
    LineDef("paper_found_mobile", _P, _paper("found_mobile"),
            {"kk": "Жылжымалы жәшіктерден табылған бюллетеньдер саны",
             "ru": "Число бюллетеней, обнаруженных в переносных ящиках для голосования",
             "en": "Paper ballots found in the mobile box"}),
    LineDef("ballots_counted", (COMBINED,), lambda p: p.ballots_counted,
            {"kk": "Есепке алынған бюллетеньдердің жалпы саны (электрондық және қағаз)",
             "ru": "Общее число учтённых бюллетеней (электронных и бумажных)",
             "en": "Ballots counted in all (electronic and paper)"}),
)
_BY_KEY = {d.key: d for d in PRECINCT_LINES}
#: a hand count's precinct lines (handcount.py) are these lines of the form
HAND_COUNT_LINES = {"unused": "paper_unused", "found_stationary": "paper_found_stationary",
                    "found_mobile": "paper_found_mobile"}

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
    "electronic": {"kk": "Электрондық", "ru": "Электронные", "en": "Electronic"},
    "paper": {"kk": "Қағаз", "ru": "Бумажные", "en": "Paper"},
    "total": {"kk": "Барлығы", "ru": "Всего", "en": "Total"},
    "protocol.electronic": {"kk": "Электрондық дауыс беру хаттамасы", "ru": "Протокол электронного голосования",
                            "en": "Electronic protocol (ballot cards)"},
    "protocol.paper": {"kk": "Қағаз бюллетеньдер бойынша хаттама", "ru": "Протокол по бумажным бюллетеням",
                       "en": "Paper protocol (hand count)"},
    "protocol.combined": {"kk": "Жиынтық хаттама (дауыс беру қорытындысы)",
                          "ru": "Сводный протокол (итоги голосования)",
                          "en": "Combined protocol (the result)"},
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
    """One numbered line: its value in the combined protocol and, for a contest line of
    a protocol with paper, its electronic and paper parts (None otherwise)."""

    number: int
    key: str  # "voters_main", "paper_received", "contest:<id>:option:<oid>", "contest:<id>:against_all", ...
    label: str
    value: int
    electronic: int | None = None
    paper: int | None = None


@dataclass(frozen=True)
class Section:
    title: str | None  # the contest's name; None for the precinct lines
    lines: tuple[Line, ...]


def _check_lang(lang: str) -> None:
    if lang not in LANGUAGES:
        raise WallCopyError(f"printing language must be one of {', '.join(LANGUAGES)}, got {lang!r}")


def _contest_lines(election: Election, contest: ContestResult, lang: str) -> list[tuple[str, str, str, int]]:
    """(key, label, field, value) of a contest's lines: every option, against all (where on
    the ballot), blank, invalid."""
    definition = election.contest(contest.contest_id)
    cid = contest.contest_id
    out = [(f"contest:{cid}:option:{o.id}", o.name.get(lang), o.id, contest.votes.get(o.id, 0))
           for o in election.options(cid)]
    if definition.against_all:
        out.append((f"contest:{cid}:against_all", TEXT["against_all"][lang], "against_all", contest.against_all))
    out.append((f"contest:{cid}:blank", TEXT["blank"][lang], "blank", contest.blank))
    out.append((f"contest:{cid}:invalid", TEXT["invalid"][lang], "invalid", contest.invalid))
    return out


def _part(contests: Sequence[ContestResult], cid: str, what: str) -> int:
    for c in contests:
        if c.contest_id == cid:
            return getattr(c, what) if what in ("against_all", "blank", "invalid") else c.votes.get(what, 0)
    return 0


def protocol_lines(signed: SignedProtocol | Protocol, election: Election, lang: str,
                   protocol: str = COMBINED) -> list[Section]:
    """The numbered lines of one of the three protocols in `lang`, in the form's order:
    the precinct lines of that protocol, then each contest's lines. For the combined
    protocol of a precinct that used paper, a contest line carries its electronic and
    paper parts too (the wall copy prints the three columns)."""
    _check_lang(lang)
    if protocol not in PROTOCOLS:
        raise WallCopyError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    p = signed.protocol if isinstance(signed, SignedProtocol) else signed
    number = 0

    def line(key: str, label: str, value: int, electronic: int | None = None, paper: int | None = None) -> Line:
        nonlocal number
        number += 1
        return Line(number, key, label, value, electronic, paper)

    sections = [Section(None, tuple(line(d.key, d.labels[lang], d.value(p)) for d in PRECINCT_LINES
                                    if protocol in d.protocols))]
    contests = {COMBINED: p.contests, ELECTRONIC: p.electronic_contests,
                PAPER: () if p.paper is None else p.paper.contests}[protocol]
    split = protocol == COMBINED and p.paper is not None
    for contest in (contests if protocol != PAPER or p.paper is not None else ()):
        cid = contest.contest_id
        lines = [line(key, label, value, *((_part(p.electronic_contests, cid, what), _part(p.paper.contests, cid, what))
                                           if split and p.paper is not None else ()))
                 for key, label, what, value in _contest_lines(election, contest, lang)
                 if not (protocol == PAPER and what == "blank")]  # a paper ballot has no blank: it is invalid
        sections.append(Section(election.contest(cid).name.get(lang), tuple(lines)))
    return sections


def line_label(election: Election, key: str, lang: str) -> str:
    """The label of a line key in `lang`: a precinct line of the form (`PRECINCT_LINES`), a
    hand count's line (`HAND_COUNT_LINES`), or a contest line ("<contest>: <option>")."""
    _check_lang(lang)
    definition = _BY_KEY.get(HAND_COUNT_LINES.get(key, key))
    if definition is not None:
        return definition.labels[lang]
    parts = key.split(":")
    if len(parts) >= 3 and parts[0] == "contest":
        cid, what = parts[1], parts[2]
        try:
            contest = election.contest(cid).name.get(lang)
            if what == "option" and len(parts) == 4:
                option = next((o.name.get(lang) for o in election.options(cid) if o.id == parts[3]), parts[3])
                return f"{contest}: {option}"
        except Exception:  # a line of a contest not in the definition: named by its key
            return key
        if what in ("against_all", "blank", "invalid"):
            return f"{contest}: {TEXT[what][lang]}"
    return key


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
    para(t["protocol.combined"] + ("" if p.paper is None else f": {t['electronic']}, {t['paper']}, {t['total']}"),
         10, "B", align="C")
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
    split = p.paper is not None  # contest lines in three columns: electronic, paper, total

    def row(no: str, label: str, values: Sequence[str], bold: bool = False, size: float = 9) -> None:
        value_w = count_w if len(values) == 1 else 22.0  # "Электронные" at 7 pt fits 22 mm
        label_w = width - number_w - value_w * len(values)
        pdf.set_font("DejaVu", "B" if bold else "", 9)
        lines = pdf.multi_cell(label_w, 5, label, dry_run=True, output="LINES")
        h = 5 * max(1, len(lines))
        if pdf.get_y() + h > pdf.h - pdf.b_margin:
            pdf.add_page()
        x, y = pdf.get_x(), pdf.get_y()
        pdf.cell(number_w, h, no, border=1, align="C")
        pdf.multi_cell(label_w, 5, label, border=1, align="L", new_x="RIGHT", new_y="TOP", max_line_height=5)
        pdf.set_xy(x + number_w + label_w, y)
        pdf.set_font("DejaVu", "B" if bold else "", size)
        for i, value in enumerate(values):
            last = i == len(values) - 1
            pdf.cell(value_w, h, value, border=1, align="R", new_x="LMARGIN" if last else "RIGHT",
                     new_y="NEXT" if last else "TOP")

    row(t["no"], t["line"], [t["count"]], bold=True)
    for section in sections:
        if section.title is not None:
            if pdf.get_y() + 6 + 5 + 2 * 5 > pdf.h - pdf.b_margin:  # a contest's title never ends a page alone
                pdf.add_page()
            pdf.set_font("DejaVu", "B", 9)
            pdf.multi_cell(width, 6, section.title, border=1, align="L", new_x="LMARGIN", new_y="NEXT")
            if split:
                row("", "", [t["electronic"], t["paper"], t["total"]], bold=True, size=7)
        for ln in section.lines:
            parts = [ln.electronic, ln.paper] if ln.electronic is not None and ln.paper is not None else []
            row(str(ln.number), ln.label, [*(str(v) for v in parts), str(ln.value)])

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


#: the printing languages of the wall copies written at close (a commission posts one, hands out both)
CLOSE_LANGUAGES = ("kk", "ru")


def wall_copy_name(lang: str) -> str:
    return f"wall-{lang}.pdf"


def write_wall_copies(out_dir: Path, signed: SignedProtocol, election: Election, members: Sequence[Member],
                      check: CosignCheck | None = None) -> tuple[Path, ...]:
    """Write the wall copies (kk, ru) beside the signed protocol, each atomically
    (temporary name, fsync, rename): at close with no co-signature yet, and again after
    each member co-signs on the station. The digest printed is the protocol file's."""
    digest = protocol_digest(signed.to_canonical_json())
    written = []
    for lang in CLOSE_LANGUAGES:
        path = out_dir / wall_copy_name(lang)
        atomic_write(path, wall_copy_pdf(signed, election, lang, members, check, digest))
        written.append(path)
    return tuple(written)
