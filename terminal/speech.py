"""Spoken prompts through espeak-ng: to the sound card, or to WAV files.

The text goes to espeak-ng on standard input, never on its command line, so a
spoken choice does not show up in the process list. A prompt is a list of
(text, language) parts, sent as SSML with one `<voice>` per part, so a screen
shown in three languages is read with three voices in one process. The voter's
rate and volume (`VoterSettings.rate`, `.volume`) become espeak-ng's `-s` and
`-a`.

Two outputs, one code path:

- the sound card (`Speaker.detect()`): available when espeak-ng and its kk/ru/en
  voices are installed and there is somewhere to play sound (an ALSA playback
  device, or a PulseAudio/PipeWire server); otherwise `available` is False and
  `reason` says why, for the screen to show and a poll worker to fix;
- WAV files (`Speaker.to_wav(directory)`): espeak-ng renders each prompt to its
  own file (`-w`). Tests use it to hear what a blind voter would hear on a
  machine without a sound card; a WAV holds the spoken words, so it is never
  used on a polling-station terminal (the CLI offers no way to turn it on).

Whether to speak at all is the voter's setting (`VoterSettings.audio`), not the
speaker's: `say` speaks whenever it is called and can.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from sailau.terminal.i18n import LANGUAGES, N_
from sailau.terminal.settings import DEFAULT_RATE, DEFAULT_VOLUME

#: espeak-ng voice per UI language.
VOICES = {"kk": "kk", "ru": "ru", "en": "en-gb"}


@dataclass(frozen=True)
class Utterance:
    """One prompt as handed to espeak-ng: (text, language) parts, rate, volume."""

    parts: tuple[tuple[str, str], ...]
    rate: int = DEFAULT_RATE
    volume: int = DEFAULT_VOLUME

    @property
    def text(self) -> str:
        return " ".join(text for text, _ in self.parts)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(lang for _, lang in self.parts))

    def ssml(self) -> str:
        """The SSML espeak-ng reads (`-m`): one voice element per part, text escaped."""
        voices = "".join(
            f"<voice name={quoteattr(VOICES.get(lang, 'en-gb'))}>{escape(text)}</voice> " for text, lang in self.parts
        )
        return f"<speak>{voices}</speak>"


def audio_output_present(environ: Mapping[str, str] | None = None, dev: Path = Path("/dev/snd")) -> bool:
    """Whether sound can be played: an ALSA playback device or a sound server socket."""
    env = os.environ if environ is None else environ
    if dev.is_dir() and any(p.name.startswith("pcmC") and p.name.endswith("p") for p in dev.iterdir()):
        return True
    if env.get("PULSE_SERVER"):
        return True
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and any((Path(runtime) / sock).exists() for sock in ("pulse/native", "pipewire-0")):
        return True
    return False


def installed_voices(executable: str) -> set[str]:
    """The voice names espeak-ng lists (empty if it cannot be run)."""
    try:
        listing = subprocess.run([executable, "--voices"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return set()
    names = set()
    for line in listing.stdout.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 2:
            names.add(fields[1])
    return names


@dataclass
class Speaker:
    """Speaks prompts if it can; `say` never blocks the UI and never raises."""

    executable: str | None
    audio: bool
    #: Voices espeak-ng lacks among VOICES (a language it cannot speak).
    missing_voices: tuple[str, ...] = ()
    #: Render each prompt to a WAV file here instead of playing it (tests only).
    wav_dir: Path | None = None
    #: Called with each utterance and its WAV path (None when played) after it started.
    listener: Callable[[Utterance, Path | None], None] | None = None
    runner: Callable[..., subprocess.Popen] = subprocess.Popen
    _current: subprocess.Popen | None = field(default=None, repr=False)
    _numbers: itertools.count = field(default_factory=lambda: itertools.count(1), repr=False)

    @classmethod
    def detect(cls, environ: Mapping[str, str] | None = None, dev: Path = Path("/dev/snd")) -> Speaker:
        executable = shutil.which("espeak-ng")
        voices = installed_voices(executable) if executable else set()
        missing = tuple(lang for lang in LANGUAGES if executable and VOICES[lang] not in voices)
        return cls(executable=executable, audio=audio_output_present(environ, dev), missing_voices=missing)

    @classmethod
    def to_wav(cls, directory: Path, listener: Callable[[Utterance, Path | None], None] | None = None) -> Speaker:
        """A speaker that renders every prompt to a numbered WAV file in `directory`."""
        speaker = cls.detect()
        speaker.wav_dir = directory
        speaker.listener = listener
        return speaker

    @property
    def available(self) -> bool:
        return self.executable is not None and not self.missing_voices and (self.audio or self.wav_dir is not None)

    @property
    def reason(self) -> str:
        """Why speech is unavailable (English msgid; the screen translates it)."""
        if self.executable is None:
            return N_("espeak-ng is not installed")
        if self.missing_voices:
            return N_("espeak-ng has no voice for one of the languages")
        if not self.audio and self.wav_dir is None:
            return N_("no audio output device")
        return ""

    def command(self, utterance: Utterance, wav: Path | None = None) -> list[str]:
        if self.executable is None:
            raise RuntimeError("espeak-ng is not installed")
        first = utterance.parts[0][1] if utterance.parts else "en"
        command = [self.executable, "-m", "-v", VOICES.get(first, "en-gb"),
                   "-s", str(utterance.rate), "-a", str(utterance.volume)]
        if wav is not None:
            command += ["-w", str(wav)]
        return command

    def say(self, parts: Sequence[tuple[str, str]], rate: int = DEFAULT_RATE, volume: int = DEFAULT_VOLUME) -> bool:
        """Speak the (text, language) `parts`, cutting off the prompt before it;
        False if speech is unavailable."""
        utterance = Utterance(tuple((text, lang) for text, lang in parts if text), rate, volume)
        if not (self.available and utterance.parts):
            return False
        wav = None
        if self.wav_dir is not None:
            wav = self.wav_dir / f"{next(self._numbers):04d}-{utterance.languages[0]}.wav"
        else:
            self.stop()  # on a sound card a new prompt replaces the one being spoken
        try:
            proc = self.runner(self.command(utterance, wav), stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            assert proc.stdin is not None
            proc.stdin.write(utterance.ssml().encode("utf-8"))
            proc.stdin.close()
        except OSError:
            return False
        self._current = proc
        if wav is not None:
            proc.wait(timeout=60)  # tests only: the listener gets a complete file
        if self.listener is not None:
            self.listener(utterance, wav)
        return True

    @property
    def process(self) -> subprocess.Popen | None:
        """The espeak-ng process of the latest prompt, if any."""
        return self._current

    def stop(self) -> None:
        proc, self._current = self._current, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                proc.kill()
