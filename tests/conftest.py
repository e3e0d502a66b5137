"""Shared fixtures live in plugin modules named after the real part they start; the one
here steadies Textual snapshots."""

import pytest

pytest_plugins = ["fixtures_pcsc", "fixtures_postgres", "fixtures_published", "fixtures_station"]


@pytest.fixture(autouse=True)
def _steady_snapshots(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Snapshots must not depend on how fast the machine is. Textual animates two things
    on timers: a pressed Button flashes for 0.2 s and a focused Input or TextArea blinks its
    cursor every 0.5 s, so whether a screenshot caught the flash or the dark half of a blink
    depended on machine load (a CI run failed on exactly that). In snapshot tests the flash
    is off and cursors stay visible; the apps themselves are unchanged."""
    if "snap_compare" not in request.fixturenames:
        return
    from textual.widgets import Button, Input, TextArea

    monkeypatch.setattr(Button, "_start_active_affect", lambda self: None)
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    monkeypatch.setattr(TextArea, "_toggle_cursor_blink_visible", lambda self: None)
