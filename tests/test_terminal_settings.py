"""A voter's settings (text size, colours, speech, input) as the session keeps them:
their ranges, when they reset (VVSG 2.0 7.1-A), the voter's own reset (7.1-B), a
poll worker's preset for the next card, more time for assisted voters, a card
pulled mid-vote, the card service going away; and a Hypothesis state machine:
settings never pass from one voter's card to another's."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import terminal_support as ts
from sailau.election.ballot import Mark
from sailau.terminal.session import CardCheck, IdleState, Phase, ReaderProblem, TerminalSession
from sailau.terminal.settings import (
    DEFAULT_SETTINGS,
    SPEECH_RATES,
    TEXT_SIZES,
    VOLUMES,
    Contrast,
    InputMode,
    SettingsError,
    VoterSettings,
)
from test_terminal_session import FakeClock, opened

STYLE = ts.election().precinct(ts.PRECINCT).style
LIST, SMD, MASLIKHAT = (c.id for c in ts.election().contests_for_style(STYLE))


def new_session() -> tuple[TerminalSession, FakeClock]:
    clock = FakeClock()
    return TerminalSession(ts.config(idle_timeout=120, idle_warning=30), clock=clock), clock


# -- the settings themselves ------------------------------------------------------------


def test_at_least_four_text_sizes_and_four_colour_modes() -> None:
    assert len(TEXT_SIZES) >= 4 and len(Contrast) >= 4
    assert {Contrast.NORMAL, Contrast.HIGH_LIGHT, Contrast.HIGH_DARK, Contrast.LOW_GLARE} <= set(Contrast)
    s = DEFAULT_SETTINGS
    seen = []
    for _ in TEXT_SIZES:
        seen.append(s.text_size)
        s = s.next_text_size()
    assert seen == list(TEXT_SIZES) and s.text_size == TEXT_SIZES[0]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"text_size": 9}, "text size 9 is not one of"),
        ({"rate": 999}, "speech rate 999 is not one of"),
        ({"volume": 7}, "volume 7 is not one of"),
        ({"language": "de"}, "unknown language 'de'"),
        ({"screen_off": True}, "only while speech is on"),
        ({"scan_seconds": 0.1}, "scanning step 0.1 s"),
        ({"colour": "pink"}, "no such setting"),
    ],
)
def test_a_setting_out_of_range_is_refused_by_name(changes, words) -> None:
    with pytest.raises(SettingsError, match=words):
        DEFAULT_SETTINGS.changed(**changes)


def test_speech_steps_stop_at_the_ends_and_turning_speech_off_turns_the_screen_on() -> None:
    s = DEFAULT_SETTINGS.changed(audio=True, screen_off=True)
    for _ in range(20):
        s = s.faster().louder()
    assert s.rate == SPEECH_RATES[-1] and s.volume == VOLUMES[-1]
    for _ in range(20):
        s = s.slower().quieter()
    assert s.rate == SPEECH_RATES[0] and s.volume == VOLUMES[0]
    off = s.changed(audio=False)
    assert not off.audio and not off.screen_off


def test_assisted_voters_get_twice_the_time_before_the_warning_and_the_timeout() -> None:
    session, clock = new_session()
    slot = ts.slot(ts.issued_card())
    session.on_card_inserted(slot.client)
    session.choose_language("ru")
    session.adjust(input_mode=InputMode.TWO_SWITCH)
    assert session.idle_timeout == 240 and session.idle_warning == 60
    clock.now += 179
    assert session.check_idle() is IdleState.ACTIVE  # a sighted touch voter would be warned at 90 s
    clock.now += 2
    assert session.check_idle() is IdleState.WARNING
    session.adjust(input_mode=InputMode.STANDARD)
    assert session.check_idle() is IdleState.ACTIVE  # adjusting is activity


# -- when they reset ----------------------------------------------------------------------


def test_settings_reset_when_the_voted_card_leaves() -> None:
    session, _ = new_session()
    slot = ts.slot(ts.issued_card())
    session.on_card_inserted(slot.client)
    session.adjust(text_size=4, contrast=Contrast.HIGH_DARK, audio=True, screen_off=True, rate=230, volume=160,
                   input_mode=InputMode.TWO_SWITCH, scan_seconds=2.5)
    session.vote({LIST: "AMANAT"}, language="en")
    session.cast()
    assert session.phase is Phase.DONE and session.settings.text_size == 4
    slot.pull()
    session.on_card_removed()
    assert session.phase is Phase.IDLE and session.settings == DEFAULT_SETTINGS


def test_a_poll_worker_sets_them_before_the_card_goes_in() -> None:
    session, _ = new_session()
    preset = VoterSettings(language="ru", text_size=3, contrast=Contrast.HIGH_LIGHT, audio=True)
    session.apply(preset)
    slot = ts.slot(ts.issued_card())
    assert session.on_card_inserted(slot.client).check is CardCheck.ACCEPTED
    assert session.settings == preset and session.language == "ru"
    session.vote({}, language="ru")
    session.cast()
    slot.pull()
    session.on_card_removed()
    assert session.settings == DEFAULT_SETTINGS  # the next voter starts from the defaults


def test_a_refused_card_does_not_end_the_settings() -> None:
    session, _ = new_session()
    session.apply(VoterSettings(language="kk", audio=True))
    wrong = ts.slot(ts.issued_card(precinct=ts.OTHER_PRECINCT_SAME_STYLE))
    assert session.on_card_inserted(wrong.client).check is CardCheck.WRONG_PRECINCT
    wrong.pull()
    session.on_card_removed()
    assert session.phase is Phase.IDLE and session.settings.audio and session.language == "kk"


def _voting_for(session: TerminalSession, language: str, option: str) -> ts.Slot:
    """An issued card goes in, the voter chooses `language` and selects `option` in
    the first contest; the card stays in its slot."""
    slot = ts.slot(ts.issued_card())
    session.on_card_inserted(slot.client)
    session.choose_language(language)
    session.select(option)
    return slot


def test_the_voter_resets_to_the_defaults_keeping_language_and_choices() -> None:
    session, _ = new_session()
    _voting_for(session, "kk", "AMANAT")
    session.adjust(text_size=4, contrast=Contrast.LOW_GLARE, audio=True)
    assert session.reset_settings() == VoterSettings(language="kk")
    assert session.contest_view().selected == "AMANAT" and session.phase is Phase.CONTEST


def _pulled_mid_vote(session: TerminalSession, language: str | None, **changes: Any) -> None:
    """An issued card goes in, the voter chooses `language` (None: not yet) and
    makes `changes` to the settings, then pulls the card before casting."""
    slot = ts.slot(ts.issued_card())
    session.on_card_inserted(slot.client)
    if language is not None:
        session.choose_language(language)
    session.adjust(**changes)
    slot.pull()
    session.on_card_removed()


def test_a_pulled_card_that_does_not_come_back_ends_the_voter_after_one_timeout() -> None:
    session, clock = new_session()
    _pulled_mid_vote(session, "ru", audio=True)
    assert session.phase is Phase.CARD_PULLED
    clock.now += 239  # assisted: twice the 120 s
    assert session.check_idle() is IdleState.ACTIVE and session.phase is Phase.CARD_PULLED
    clock.now += 2
    assert session.check_idle() is IdleState.TIMED_OUT
    assert session.phase is Phase.IDLE and session.settings == DEFAULT_SETTINGS


def test_another_card_after_a_pulled_one_starts_from_the_defaults() -> None:
    session, _ = new_session()
    _pulled_mid_vote(session, "en", contrast=Contrast.HIGH_DARK, text_size=2)
    other = ts.slot(ts.issued_card())
    assert session.on_card_inserted(other.client).check is CardCheck.ACCEPTED
    assert session.settings == DEFAULT_SETTINGS


def test_finish_on_the_pulled_card_notice_is_idle_with_defaults() -> None:
    session, _ = new_session()
    _pulled_mid_vote(session, None, text_size=2)
    session.end_voter()
    assert session.phase is Phase.IDLE and session.settings == DEFAULT_SETTINGS


def test_the_card_service_going_away_mid_vote_drops_the_choices_and_says_why() -> None:
    session, _ = new_session()
    slot = _voting_for(session, "kk", "AMANAT")
    session.on_reader(ReaderProblem.NO_SERVICE, "pcscd is not running")
    assert session.reader_problem is ReaderProblem.NO_SERVICE and session.reader_detail == "pcscd is not running"
    assert session.phase is Phase.CARD_PULLED and not session.holds_choices and session.language == "kk"
    session.on_reader(None)
    assert session.reader_problem is None and session.reader_detail == ""
    # the reader is back and reports the card still in it: the same voter votes again
    assert session.on_card_inserted(slot.client).check is CardCheck.ACCEPTED
    assert session.language == "kk"
    session.vote({LIST: "QHP"}, language="kk")
    session.cast()
    assert opened(slot.card) == {LIST: "QHP", SMD: Mark.BLANK, MASLIKHAT: Mark.BLANK}


# -- the state machine ---------------------------------------------------------------------

#: A volume only the voter of that card picks: seeing it with another card is a leak.
VOTER_VOLUME = {0: 20, 1: 40, 2: 60}
PRESET_VOLUME = 160


class SettingsNeverLeak(RuleBasedStateMachine):
    """Cards come and go in any order (accepted, refused once voted, pulled mid-vote,
    torn reader service, timeouts, presets). Invariants: a card is never accepted
    with another card's voter's settings; the terminal idle after a voter's card
    has left holds the defaults; no choice outlives the marking phases."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.session = TerminalSession(ts.config(idle_timeout=120, idle_warning=30), clock=self.clock)
        self.slots = [ts.slot(ts.issued_card()) for _ in VOTER_VOLUME]
        for slot in self.slots:
            slot.pull()  # every card starts on the voter's side of the reader
        self.serials = [slot.card.serial for slot in self.slots]
        self.in_reader: int | None = None
        self.reader_down = False
        self.ended_a_voter = False  # the last move to IDLE ended a voter's session

    def _insert(self, i: int) -> None:
        before = self.session.phase
        volume_before = self.session.settings.volume
        result = self.session.on_card_inserted(self.slots[i].client)
        if result.check in (CardCheck.ACCEPTED, CardCheck.STILL_ISSUED):
            others = {v for j, v in VOTER_VOLUME.items() if j != i}
            assert self.session.settings.volume not in others, (
                f"card {i} accepted with another voter's settings (from {before}, volume was {volume_before})")
            self.session.adjust(volume=VOTER_VOLUME[i])
        self.ended_a_voter = False

    @precondition(lambda self: self.in_reader is None and not self.reader_down)
    @rule(i=st.sampled_from(sorted(VOTER_VOLUME)))
    def insert(self, i: int) -> None:
        self.slots[i].put_back()
        self.in_reader = i
        self._insert(i)

    @precondition(lambda self: self.in_reader is not None)
    @rule()
    def remove(self) -> None:
        before = self.session.phase
        self.slots[self.in_reader].pull()
        self.in_reader = None
        if not self.reader_down:
            self.session.on_card_removed()
            if self.session.phase is Phase.IDLE and before not in (Phase.IDLE, Phase.REFUSED):
                self.ended_a_voter = True

    @precondition(lambda self: self.session.phase is Phase.IDLE)
    @rule()
    def preset(self) -> None:
        self.session.apply(VoterSettings(volume=PRESET_VOLUME, text_size=3))
        self.ended_a_voter = False

    @rule(size=st.sampled_from(TEXT_SIZES))
    def adjust(self, size: int) -> None:
        self.session.adjust(text_size=size)
        if self.session.phase is Phase.IDLE:
            self.ended_a_voter = False

    @precondition(lambda self: self.session.phase in (Phase.LANGUAGE, Phase.CONTEST))
    @rule(lang=st.sampled_from(["kk", "ru", "en"]), position=st.integers(1, 4))
    def mark(self, lang: str, position: int) -> None:
        if self.session.phase is Phase.LANGUAGE:
            self.session.choose_language(lang)
        self.session.select_position(position)

    @precondition(lambda self: self.session.phase in (Phase.LANGUAGE, Phase.CONTEST, Phase.CONFIRM_BLANK))
    @rule()
    def to_review_and_cast(self) -> None:
        if self.session.phase is Phase.LANGUAGE:
            self.session.choose_language("en")
        while self.session.phase is not Phase.REVIEW:
            if self.session.phase is Phase.CONFIRM_BLANK:
                self.session.confirm_blank()
            else:
                self.session.next()
        self.session.cast()

    @rule(seconds=st.sampled_from([10, 100, 250]))
    def time_passes(self, seconds: int) -> None:
        before = self.session.phase
        self.clock.now += seconds
        if self.session.check_idle() is IdleState.TIMED_OUT and before is Phase.CARD_PULLED:
            self.ended_a_voter = True

    @precondition(lambda self: self.session.phase is Phase.CARD_PULLED)
    @rule()
    def finish(self) -> None:
        self.session.end_voter()
        self.ended_a_voter = True

    @precondition(lambda self: not self.reader_down)
    @rule()
    def service_stops(self) -> None:
        self.reader_down = True
        self.session.on_reader(ReaderProblem.NO_SERVICE, "pcscd is not running")

    @precondition(lambda self: self.reader_down)
    @rule()
    def service_returns(self) -> None:
        self.reader_down = False
        self.session.on_reader(None)
        if self.in_reader is not None:  # the watcher reports the card already in the reader
            self._insert(self.in_reader)

    @invariant()
    def idle_after_a_voter_holds_the_defaults(self) -> None:
        if self.session.phase is Phase.IDLE and self.ended_a_voter:
            assert self.session.settings == DEFAULT_SETTINGS

    @invariant()
    def no_choice_outside_marking(self) -> None:
        if self.session.phase not in (Phase.LANGUAGE, Phase.CONTEST, Phase.CONFIRM_BLANK, Phase.REVIEW):
            assert not self.session.holds_choices

    @invariant()
    def no_voter_volume_while_idle_after_a_voter(self) -> None:
        if self.session.phase is Phase.IDLE and self.ended_a_voter:
            assert self.session.settings.volume not in VOTER_VOLUME.values()


TestSettingsNeverLeak = SettingsNeverLeak.TestCase
TestSettingsNeverLeak.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
