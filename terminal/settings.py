"""A voter's display, audio and input settings, and the rules about them.

The session owns one `VoterSettings` at a time (`TerminalSession.settings`); the
app only draws them. What is here (VVSG 2.0 7.1 and 7.2, read as requirements):

- four text sizes (7.1-G asks for at least four) and four colour modes: normal
  (the default, at least 10:1 for every text), high contrast light (black on
  white), high contrast dark (white and yellow on black), and low glare (soft
  light grey on dark grey, nothing brighter than needed for 7:1);
- speech on or off, its rate and volume, and a screen turned off for privacy
  (only while speech is on: a voter who cannot see the screen must hear it);
- the input: standard (touch, keyboard, the audio keypad) or two switches
  (move / select), stepping by the move switch or scanning by itself;
- the voter's language, once chosen (or preset by a poll worker).

When they reset (7.1-A): settings last from the moment they are set until the
voter's card leaves the terminal for good: after the vote, or after a card
pulled mid-vote that does not come back. Settings made while the terminal is
idle are a poll worker's preset for the next card. A refused card does not end
them (the voter is still there). The voter can go back to the defaults at any
time, keeping their choices and language (7.1-B): `reset_keeping_language`.

Nothing here is vote content: a language or a text size says nothing about a
ballot, so settings may outlive the choices (a card pulled mid-write keeps them
to explain what happened in the voter's language).
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

from sailau.election.definition import LANGUAGES


class SettingsError(ValueError):
    """A setting outside its range, or a combination that cannot work."""


class Contrast(enum.StrEnum):
    NORMAL = "normal"  # the default
    HIGH_LIGHT = "high_light"  # black on white
    HIGH_DARK = "high_dark"  # white and yellow on black
    LOW_GLARE = "low_glare"  # soft light grey on dark grey


class InputMode(enum.StrEnum):
    STANDARD = "standard"  # touch, keyboard, the audio keypad
    TWO_SWITCH = "two_switch"  # a move switch and a select switch (personal assistive devices)


CONTRASTS = tuple(Contrast)
TEXT_SIZES = (1, 2, 3, 4)
#: Speech rates in words per minute (espeak-ng -s); "slower"/"faster" step along them.
SPEECH_RATES = (100, 130, 160, 190, 230, 280)
DEFAULT_RATE = 160
#: Speech volumes (espeak-ng amplitude, 0..200); "quieter"/"louder" step along them.
VOLUMES = (20, 40, 60, 80, 100, 130, 160, 200)
DEFAULT_VOLUME = 100
#: Automatic scanning: seconds the highlight stays on each target (0: the move switch steps it).
SCAN_STEPS = (0.0, 1.5, 2.5, 4.0)
#: A voter listening or using switches gets this many times the idle warning and timeout:
#: hearing a contest through takes longer than reading it.
ASSISTED_TIME_FACTOR = 2


@dataclass(frozen=True)
class VoterSettings:
    language: str | None = None
    text_size: int = 1
    contrast: Contrast = Contrast.NORMAL
    audio: bool = False
    rate: int = DEFAULT_RATE
    volume: int = DEFAULT_VOLUME
    input_mode: InputMode = InputMode.STANDARD
    scan_seconds: float = 0.0
    screen_off: bool = False

    def __post_init__(self) -> None:
        if self.language is not None and self.language not in LANGUAGES:
            raise SettingsError(f"unknown language {self.language!r}; expected one of {', '.join(LANGUAGES)}")
        if self.text_size not in TEXT_SIZES:
            raise SettingsError(f"text size {self.text_size!r} is not one of {TEXT_SIZES}")
        if not isinstance(self.contrast, Contrast):
            raise SettingsError(f"contrast {self.contrast!r} is not one of {[c.value for c in Contrast]}")
        if self.rate not in SPEECH_RATES:
            raise SettingsError(f"speech rate {self.rate!r} is not one of {SPEECH_RATES}")
        if self.volume not in VOLUMES:
            raise SettingsError(f"volume {self.volume!r} is not one of {VOLUMES}")
        if not isinstance(self.input_mode, InputMode):
            raise SettingsError(f"input mode {self.input_mode!r} is not one of {[m.value for m in InputMode]}")
        if self.scan_seconds not in SCAN_STEPS:
            raise SettingsError(f"scanning step {self.scan_seconds!r} s is not one of {SCAN_STEPS}")
        if self.screen_off and not self.audio:
            raise SettingsError("the screen can be turned off only while speech is on")

    def changed(self, **changes: object) -> VoterSettings:
        """These settings with `changes` applied; turning speech off turns the screen back on."""
        if changes.get("audio") is False:
            changes.setdefault("screen_off", False)
        try:
            return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
        except TypeError as exc:
            raise SettingsError(f"no such setting: {exc}") from None

    @property
    def assisted(self) -> bool:
        """Listening or using switches: more time before the idle warning."""
        return self.audio or self.input_mode is InputMode.TWO_SWITCH

    @property
    def time_factor(self) -> int:
        return ASSISTED_TIME_FACTOR if self.assisted else 1

    def next_text_size(self) -> VoterSettings:
        """The next text size, wrapping from the largest to the smallest (one button cycles)."""
        return self.changed(text_size=TEXT_SIZES[(TEXT_SIZES.index(self.text_size) + 1) % len(TEXT_SIZES)])

    def next_contrast(self) -> VoterSettings:
        return self.changed(contrast=CONTRASTS[(CONTRASTS.index(self.contrast) + 1) % len(CONTRASTS)])

    def next_scan_step(self) -> VoterSettings:
        return self.changed(scan_seconds=SCAN_STEPS[(SCAN_STEPS.index(self.scan_seconds) + 1) % len(SCAN_STEPS)])

    def faster(self) -> VoterSettings:
        return self.changed(rate=_step(SPEECH_RATES, self.rate, +1))

    def slower(self) -> VoterSettings:
        return self.changed(rate=_step(SPEECH_RATES, self.rate, -1))

    def louder(self) -> VoterSettings:
        return self.changed(volume=_step(VOLUMES, self.volume, +1))

    def quieter(self) -> VoterSettings:
        return self.changed(volume=_step(VOLUMES, self.volume, -1))

    def reset_keeping_language(self) -> VoterSettings:
        """The voter's "default settings" (VVSG 7.1-B): everything back, the language kept."""
        return VoterSettings(language=self.language)


def _step(scale: tuple[int, ...], value: int, direction: int) -> int:
    """The neighbour of `value` on `scale`, staying at the ends (no surprise wrap to the slowest)."""
    i = scale.index(value) + direction
    return scale[min(max(i, 0), len(scale) - 1)]


DEFAULT_SETTINGS = VoterSettings()
