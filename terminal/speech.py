"""Optional spoken prompts through espeak-ng.

The text goes to espeak-ng on standard input, never on its command line, so a
spoken choice does not show up in the process list. Speech is available only
when espeak-ng is installed and there is somewhere to play sound (an ALSA
device, or a PulseAudio/PipeWire server); otherwise `Speaker.available` is False
and `reason` says why, for the screen to show.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sailau.terminal.i18n import N_

#: espeak-ng voice per UI language.
VOICES = {"kk": "kk", "ru": "ru", "en": "en-gb"}


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


@dataclass
class Speaker:
    """Speaks prompts if it can; `say` never blocks the UI and never raises."""

    executable: str | None
    audio: bool
    enabled: bool = False
    #: Extra espeak-ng arguments (tests use ["--stdout"] to get the WAV back).
    extra_args: tuple[str, ...] = ()
    runner: Callable[..., subprocess.Popen] = subprocess.Popen
    _current: subprocess.Popen | None = field(default=None, repr=False)

    @classmethod
    def detect(cls, environ: Mapping[str, str] | None = None, dev: Path = Path("/dev/snd")) -> Speaker:
        return cls(executable=shutil.which("espeak-ng"), audio=audio_output_present(environ, dev))

    @property
    def available(self) -> bool:
        return self.executable is not None and self.audio

    @property
    def reason(self) -> str:
        """Why speech is unavailable (English; the screen translates the msgid)."""
        if self.executable is None:
            return N_("espeak-ng is not installed")
        if not self.audio:
            return N_("no audio output device")
        return ""

    def command(self, language: str) -> list[str]:
        if self.executable is None:
            raise RuntimeError("espeak-ng is not installed")
        return [self.executable, "-v", VOICES.get(language, "en-gb"), *self.extra_args]

    def say(self, text: str, language: str) -> bool:
        """Speak `text` (interrupting the previous prompt); False if speech is off or unavailable."""
        if not (self.enabled and self.available and text):
            return False
        self.stop()
        try:
            proc = self.runner(
                self.command(language),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL if not self.extra_args else subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            assert proc.stdin is not None
            proc.stdin.write(text.encode("utf-8"))
            proc.stdin.close()
        except OSError:
            return False
        self._current = proc
        return True

    @property
    def process(self) -> subprocess.Popen | None:
        """The espeak-ng process of the prompt being spoken, if any."""
        return self._current

    def stop(self) -> None:
        proc, self._current = self._current, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                proc.kill()
