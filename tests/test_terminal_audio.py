"""The audio ballot, as a blind voter meets it: real espeak-ng renders every prompt
to a WAV file (so the audio path runs for real on a machine without a sound
card), and a test that only listens and presses keypad keys completes a ballot.

What is checked about what the voter hears: the words handed to espeak-ng (the
screen, each option with its state, each review line, the receipt code, every
error), that they are in the voter's language and voice, and that each WAV is
non-silent and of a plausible length for its words; the keypad's rate and
volume keys change the WAV (shorter, louder). No speech recognition: the words
are checked where they are chosen, the sound where it is made."""

from __future__ import annotations

import array
import math
import re
import wave
from pathlib import Path

import pytest

import terminal_support as ts
from sailau.election.ballot import Mark
from sailau.election.record import BallotRecord
from sailau.terminal.i18n import t
from sailau.terminal.screens import SCREEN_OFF
from sailau.terminal.settings import DEFAULT_RATE, VoterSettings
from sailau.terminal.speech import Speaker, Utterance
from test_terminal_app import FakeClock, make_app, rendered_text, until
from test_terminal_session import opened

STYLE = ts.election().precinct(ts.PRECINCT).style
LIST, SMD, MASLIKHAT = (c.id for c in ts.election().contests_for_style(STYLE))
SIZE = (100, 34)


def wav_stats(path: Path) -> tuple[float, float]:
    """(seconds, RMS of the 16-bit samples) of a mono WAV espeak-ng wrote."""
    with wave.open(str(path)) as w:
        assert (w.getsampwidth(), w.getnchannels()) == (2, 1)
        frames = w.readframes(w.getnframes())
        seconds = w.getnframes() / w.getframerate()
    samples = array.array("h", frames)
    rms = math.sqrt(sum(s * s for s in samples) / max(1, len(samples)))
    return seconds, rms


class Ear:
    """What the voter hears: each utterance with its WAV, in order."""

    def __init__(self, directory: Path) -> None:
        self.heard: list[tuple[Utterance, Path]] = []
        self.speaker = Speaker.to_wav(directory, listener=lambda u, wav: self.heard.append((u, wav)))
        assert self.speaker.available, self.speaker.reason

    @property
    def last(self) -> str:
        return self.heard[-1][0].text if self.heard else ""

    def since(self, mark: int) -> str:
        return " ".join(u.text for u, _ in self.heard[mark:])

    async def wait(self, pilot, words: str, mark: int = 0) -> str:
        await until(pilot, lambda: words in self.since(mark), f"to hear {words!r}")
        return self.since(mark)


async def press_and_listen(pilot, ear: Ear, key: str) -> str:
    mark = len(ear.heard)
    await pilot.press(key)
    await until(pilot, lambda: len(ear.heard) > mark, f"a word after {key!r}")
    return ear.since(mark)


async def move_until_heard(pilot, ear: Ear, words: str, key: str = "down", limit: int = 12) -> None:
    """Press Down (each target says itself) until the voter hears `words`."""
    for _ in range(limit):
        if words in await press_and_listen(pilot, ear, key):
            return
    raise AssertionError(f"never heard {words!r}; last: {ear.last!r}")


def ru(option_id: str, contest: str) -> str:
    return ts.election().option_label(contest, option_id, "ru")


@pytest.mark.asyncio
async def test_a_blind_voter_completes_the_ballot_by_ear_and_keypad(tmp_path) -> None:
    ear = Ear(tmp_path)
    app, source = make_app(speaker=ear.speaker, clock=FakeClock())
    card = ts.issued_card()
    smd_choice = ts.election().options(SMD)[2].id
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")  # the poll worker turns speech on before the card goes in
        await ear.wait(pilot, t("kk", "Speech on."))
        mark = len(ear.heard)
        source.insert(card)
        await ear.wait(pilot, t("ru", "Choose your language"), mark)
        await move_until_heard(pilot, ear, "Русский")
        mark = len(ear.heard)
        await pilot.press("enter")
        contest1 = await ear.wait(pilot, t("ru", "Mark one choice, then press Next."), mark)
        assert t("ru", "Contest {index} of {count}", index=1, count=3) in contest1
        assert t("ru", "{count} choices.", count=8) in contest1
        assert "1 из 8" in contest1 and t("ru", "Not selected") in contest1  # the focused first option

        # repeat, faster, louder: the same prompt again, then shorter and louder
        again = await press_and_listen(pilot, ear, "0")
        assert again == contest1  # "repeat" says the screen and the focused option again
        normal_wav = ear.heard[-1][1]
        assert t("ru", "Faster.") in await press_and_listen(pilot, ear, "asterisk")
        assert t("ru", "Louder.") in await press_and_listen(pilot, ear, "plus")
        await press_and_listen(pilot, ear, "0")
        fast_wav = ear.heard[-1][1]
        assert ear.heard[-1][0].text == ear.heard[-4][0].text  # the very same words
        (slow_s, slow_rms), (fast_s, fast_rms) = wav_stats(normal_wav), wav_stats(fast_wav)
        assert fast_s < slow_s * 0.95 and fast_rms > slow_rms * 1.1, (slow_s, fast_s, slow_rms, fast_rms)

        # privacy: the screen goes dark, the voter goes on by ear
        assert t("ru", "Screen off.") in await press_and_listen(pilot, ear, "full_stop")
        await pilot.pause()
        assert rendered_text(app) == t("ru", SCREEN_OFF)  # nothing of the ballot on the screen

        await move_until_heard(pilot, ear, ru("AZ", LIST))
        heard = await press_and_listen(pilot, ear, "enter")
        assert heard == t("ru", "Marked: {choice}.", choice=ru("AZ", LIST))
        mark = len(ear.heard)
        await pilot.press("right")
        await ear.wait(pilot, t("ru", "Contest {index} of {count}", index=2, count=3), mark)
        await ear.wait(pilot, t("ru", "{count} choices.", count=4), mark)
        await move_until_heard(pilot, ear, ru(smd_choice, SMD))
        await press_and_listen(pilot, ear, "enter")
        mark = len(ear.heard)
        await pilot.press("right")
        await ear.wait(pilot, t("ru", "Contest {index} of {count}", index=3, count=3), mark)
        mark = len(ear.heard)
        await pilot.press("right")  # nothing marked: the terminal asks
        await ear.wait(pilot, t("ru", "Leave it unmarked? It will be counted as blank."), mark)
        await move_until_heard(pilot, ear, t("ru", "Yes, leave it blank"))
        mark = len(ear.heard)
        await pilot.press("enter")
        review = await ear.wait(pilot, t("ru", "Write my ballot to the card"), mark)
        assert t("ru", "Check your ballot") in review
        for line in (ru("AZ", LIST), ru(smd_choice, SMD), t("ru", "Left blank")):
            assert line in review, f"the review does not say {line!r}"
        mark = len(ear.heard)
        await pilot.press("enter")  # the focus is on "write my ballot"
        done = await ear.wait(pilot, t("ru", "Receipt code"), mark)
        assert t("ru", "Your ballot is on the card.") in done
        await pilot.pause()
        assert rendered_text(app) == t("ru", SCREEN_OFF)  # dark all along
        spoken_code = re.search(t("ru", "Receipt code") + r": ([0-9A-Z ,]+)\.", done).group(1)
    _, data = ts.card_data(card)
    record = BallotRecord.parse(data.record, ts.election().plaintext_length)
    assert spoken_code.replace(" ", "").split(",") == record.receipt_code.split("-")
    assert opened(card) == {LIST: "AZ", SMD: smd_choice, MASLIKHAT: Mark.BLANK}

    # every prompt after the language choice was in Russian, in the Russian voice, and sounds
    chose = next(i for i, (u, _) in enumerate(ear.heard) if t("ru", "Contest {index} of {count}", index=1, count=3) in u.text)
    for utterance, wav in ear.heard:
        seconds, rms = wav_stats(wav)
        words = len(utterance.text.split())
        per_word = seconds / words * utterance.rate / DEFAULT_RATE
        assert rms > 300, f"silent: {utterance.text!r}"
        assert 0.12 < per_word < 1.5, f"{seconds:.2f} s for {words} words: {utterance.text!r}"
    for utterance, wav in ear.heard[chose:]:
        assert utterance.languages == ("ru",), utterance
        assert '<voice name="ru">' in utterance.ssml()


@pytest.mark.asyncio
async def test_errors_are_spoken_in_the_voter_s_language(tmp_path) -> None:
    from sailau.terminal.screens import CARD_PULLED, NOTHING_WRITTEN, PUT_IT_BACK, REFUSALS
    from sailau.terminal.session import CardCheck

    ear = Ear(tmp_path)
    app, source = make_app(speaker=ear.speaker)
    app.session.apply(VoterSettings(audio=True))
    async with app.run_test(size=SIZE) as pilot:
        source.insert(ts.issued_card(precinct=ts.OTHER_PRECINCT_SAME_STYLE))
        refused = await ear.wait(pilot, t("en", REFUSALS[CardCheck.WRONG_PRECINCT]))
        for lang in ("kk", "ru"):
            assert t(lang, REFUSALS[CardCheck.WRONG_PRECINCT]) in refused  # no language chosen yet: all three
        source.remove()
        source.insert(ts.issued_card())
        await ear.wait(pilot, t("en", "Choose your language"))
        mark = len(ear.heard)
        await pilot.press("3")
        await ear.wait(pilot, "1 of 8", mark)
        mark = len(ear.heard)
        source.remove()
        pulled = await ear.wait(pilot, t("en", PUT_IT_BACK), mark)
        assert t("en", CARD_PULLED) in pulled and t("en", NOTHING_WRITTEN) in pulled
        assert all(u.languages == ("en",) for u, _ in ear.heard[mark:])


def test_the_speaker_escapes_what_it_reads_and_keeps_it_off_the_command_line(tmp_path) -> None:
    ear = Ear(tmp_path)
    assert ear.speaker.say([("Party <Alpha> & Sons", "en"), ("Партия «Бета»", "ru")], rate=230, volume=60)
    (utterance, wav), = ear.heard
    assert utterance.ssml() == ('<speak><voice name="en-gb">Party &lt;Alpha&gt; &amp; Sons</voice> '
                                '<voice name="ru">Партия «Бета»</voice> </speak>')
    command = ear.speaker.command(utterance, wav)
    assert command[1:] == ["-m", "-v", "en-gb", "-s", "230", "-a", "60", "-w", str(wav)]
    assert not any("Alpha" in part or "Бета" in part for part in command)
    seconds, rms = wav_stats(wav)
    assert seconds > 1.0 and rms > 300
