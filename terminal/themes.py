"""The kiosk's four colour modes and the contrast each must reach.

One Textual theme per `Contrast` mode. The stylesheet (terminal.tcss) uses only
the variables named here (never Textual's derived "muted" or "lighten" shades,
whose contrast nobody chose), so what a mode promises is decided in this file:

| mode | looks | every text at least | outlines at least |
|---|---|---|---|
| normal (default) | light text on dark blue | 10:1 (VVSG 2.0 7.1-C, default contrast) | 3:1 |
| high contrast light | black on white | 15:1 | 3:1 |
| high contrast dark | white and yellow on black | 15:1 | 3:1 |
| low glare | soft grey on dark grey, no colour brighter than `LOW_GLARE_MAX_LUMINANCE` | 7:1 (WCAG 2.x AAA) | 3:1 |

"Outlines" are target borders, scroll bars and the focus ring (WCAG 2.x 1.4.11
non-text contrast, 3:1). Ratios are WCAG 2.x: (L1 + 0.05) / (L2 + 0.05) of the
relative luminances. The tests compute them from the colours the compositor
actually rendered (tests/test_terminal_access.py), not from this table.
"""

from __future__ import annotations

from textual.theme import Theme

from sailau.terminal.settings import Contrast

#: Text contrast each mode promises (see the table above).
MIN_TEXT_CONTRAST = {
    Contrast.NORMAL: 10.0,
    Contrast.HIGH_LIGHT: 15.0,
    Contrast.HIGH_DARK: 15.0,
    Contrast.LOW_GLARE: 7.0,
}
#: Target borders, scroll bars, the focus ring: WCAG 1.4.11.
MIN_OUTLINE_CONTRAST = 3.0
#: In low glare nothing on screen is brighter than this (relative luminance; white is 1.0).
LOW_GLARE_MAX_LUMINANCE = 0.6


def _theme(name: str, dark: bool, *, foreground: str, background: str, surface: str, panel: str, accent: str,
           hint: str, outline: str, focus: str, selected_bg: str, selected_line: str, error: str, warning: str,
           success: str, notice_bg: str, action_bg: str, action_fg: str, action_line: str) -> Theme:
    """A theme whose every colour the stylesheet uses is named (no derived shades).

    Target fills stay on the background's side of the scale (dark fills in dark
    modes, light in light), so the focus ring contrasts with both the fill inside
    it and the background outside it; a selected option differs by its ● mark,
    bold text, its own fill and a border in `selected_line`."""
    return Theme(
        name=name,
        primary=action_bg,
        secondary=outline,
        accent=accent,
        warning=warning,
        error=error,
        success=success,
        foreground=foreground,
        background=background,
        surface=surface,
        panel=panel,
        dark=dark,
        luminosity_spread=0.0,
        text_alpha=1.0,
        variables={
            "hint": hint,  # instructions, small print
            "outline": outline,  # every target's border
            "focus": focus,  # the focus ring (also the scanning highlight)
            "selected-bg": selected_bg,
            "selected-line": selected_line,
            "notice-bg": notice_bg,
            "action-bg": action_bg,  # Next, Write, Continue
            "action-fg": action_fg,
            "action-line": action_line,
            "scrollbar": outline,
            "scrollbar-hover": focus,
            "scrollbar-active": focus,
            "scrollbar-background": surface,
            "scrollbar-background-hover": surface,
            "scrollbar-background-active": surface,
            "scrollbar-corner-color": surface,
            "footer-background": panel,
            "block-cursor-background": focus,
            "block-cursor-foreground": background,
        },
    )


THEMES: dict[Contrast, Theme] = {
    Contrast.NORMAL: _theme(
        "sailau-normal", True,
        foreground="#f4f6f8", background="#10202f", surface="#16293c", panel="#16293c",
        accent="#ffd166", hint="#dfe6ee", outline="#8fb3d9", focus="#7fdbff",
        selected_bg="#3a2f08", selected_line="#ffd166", error="#ffc4c4", warning="#ffd699",
        success="#a8f0b0", notice_bg="#3a2f08", action_bg="#08357d", action_fg="#f4f6f8", action_line="#cfe3ff",
    ),
    Contrast.HIGH_LIGHT: _theme(
        "sailau-high-light", False,
        foreground="#000000", background="#ffffff", surface="#ffffff", panel="#ffffff",
        accent="#000000", hint="#000000", outline="#000000", focus="#000080",
        selected_bg="#e0e0e0", selected_line="#000000", error="#000000", warning="#000000",
        success="#000000", notice_bg="#ffffff", action_bg="#ffffff", action_fg="#000000", action_line="#000000",
    ),
    Contrast.HIGH_DARK: _theme(
        "sailau-high-dark", True,
        foreground="#ffffff", background="#000000", surface="#000000", panel="#000000",
        accent="#ffff00", hint="#ffffff", outline="#ffffff", focus="#00ffff",
        selected_bg="#000000", selected_line="#ffff00", error="#ffff00", warning="#ffff00",
        success="#ffffff", notice_bg="#000000", action_bg="#000000", action_fg="#ffffff", action_line="#ffffff",
    ),
    Contrast.LOW_GLARE: _theme(
        "sailau-low-glare", True,
        foreground="#cbc6ba", background="#262626", surface="#2c2c2c", panel="#2c2c2c",
        accent="#d6c79a", hint="#c2bdb1", outline="#8c877c", focus="#b9a774",
        selected_bg="#38321f", selected_line="#d6c79a", error="#dcbcb4", warning="#d6c79a",
        success="#b8cfb0", notice_bg="#38321f", action_bg="#2c2c2c", action_fg="#cbc6ba", action_line="#a9b3bd",
    ),
}


def relative_luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG 2.x relative luminance of an sRGB colour (0..255 per channel)."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG 2.x contrast ratio of two colours, 1.0 (none) to 21.0 (black on white)."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)
