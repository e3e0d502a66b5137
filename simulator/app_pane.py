"""`AppPane`: a widget that runs a whole Textual `App` inside another app's screen.

Why: the demo shows the ballot-box clerk app and the booth kiosk side by side,
and both are complete apps (their own screen stacks, modal dialogs, themes and
stylesheets, which clash if merged: the kiosk styles every `Button` full width).
Rather than taking the two apps apart, each runs unchanged as a *hosted* app in
the same asyncio loop, headless, sized to its pane:

* drawing: the pane paints the hosted app's current screen, line by line, from
  that app's compositor (the same render `App.export_screenshot` uses);
* input: keys, pasted text and mouse events that reach the focused pane are
  re-posted to the hosted app, mouse coordinates made relative to the pane, so
  the hosted app sees what it would see in a terminal of the pane's size (it
  turns mouse-down + mouse-up into clicks itself);
* size: a pane resize becomes a terminal resize of the hosted app.

Textual keeps "the current app" in a context variable, so every call into the
hosted app's widgets runs inside `hosted._context()`. A hosted app must mix in
`HostedApp` (first), which tells its pane when the app has drawn something new.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual._context import visible_screen_stack
from textual.app import App
from textual.drivers.headless_driver import HeadlessDriver
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

__all__ = ["AppPane", "HostedApp"]


class HostedApp(App[Any]):
    """Mix-in for an app that runs in an `AppPane`: it marks its pane dirty on each update."""

    pane_dirty = False

    def _display(self, screen: Any, renderable: Any) -> None:  # Textual's per-frame hook
        if renderable is not None:
            self.pane_dirty = True
        super()._display(screen, renderable)


_FORWARDED_MOUSE = (events.MouseDown, events.MouseUp, events.MouseMove, events.MouseScrollDown,
                    events.MouseScrollUp, events.MouseScrollLeft, events.MouseScrollRight)


class AppPane(Widget, can_focus=True):
    """Hosts one `HostedApp`; starts it when the pane first gets a size, stops it on unmount."""

    DEFAULT_CSS = """
    AppPane { width: 1fr; height: 1fr; }
    """
    FRAME_SECONDS = 1 / 30  # how often the pane looks for a new frame of the hosted app

    def __init__(self, hosted: HostedApp, *, id: str | None = None, classes: str = "") -> None:
        super().__init__(id=id, classes=classes)
        self.hosted = hosted
        self._hosted_task: asyncio.Task[Any] | None = None
        self._lines: list[Strip] = []
        self._hosted_size: Size | None = None

    # -- life cycle ------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """The hosted app is up and has a screen to draw."""
        hosted = self.hosted
        return self._hosted_task is not None and hosted.is_running and bool(hosted._screen_stack)

    async def wait_running(self, timeout: float = 10.0) -> None:
        """Until the hosted app has started (or `TimeoutError`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.running:
            if self._hosted_task is not None and self._hosted_task.done():
                self._hosted_task.result()  # re-raise what stopped it
                raise RuntimeError(f"{type(self.hosted).__name__} stopped")
            if loop.time() > deadline:
                raise TimeoutError(f"{type(self.hosted).__name__} did not start in {timeout:g} s")
            await asyncio.sleep(0.01)

    def on_mount(self) -> None:
        self.set_interval(self.FRAME_SECONDS, self._poll_frame)

    def on_resize(self, event: events.Resize) -> None:
        size = self.content_size
        if size.width <= 0 or size.height <= 0:
            return
        if self._hosted_task is None:
            self._hosted_size = size
            self._hosted_task = asyncio.create_task(
                self.hosted.run_async(headless=True, size=(size.width, size.height), mouse=True),
                name=f"hosted {type(self.hosted).__name__}")
        elif size != self._hosted_size:
            self._hosted_size = size
            driver = self.hosted._driver
            if isinstance(driver, HeadlessDriver):
                driver._size = size  # the headless driver's terminal size (as Pilot.resize_terminal does)
            self.hosted.post_message(events.Resize(size, size))

    async def on_unmount(self) -> None:
        await self.stop_hosted()

    async def stop_hosted(self) -> None:
        task, self._hosted_task = self._hosted_task, None
        if task is None:
            return
        if not task.done():
            with self.hosted._context():
                self.hosted.exit()
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=10)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                task.cancel()

    # -- drawing ---------------------------------------------------------------------

    def _poll_frame(self) -> None:
        if self.hosted.pane_dirty and self.running:
            self.hosted.pane_dirty = False
            self._lines = self._render_hosted()
            self.refresh()

    def _render_hosted(self) -> list[Strip]:
        hosted = self.hosted
        with hosted._context():
            screen = hosted.screen
            visible_screen_stack.set(hosted._background_screens)
            return screen._compositor.render_strips()

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        if y < len(self._lines):
            return self._lines[y].crop_extend(0, width, Style())
        text = "starting…" if y == 0 and not self._lines else ""
        return Strip([Segment(text.ljust(width))], width)

    # -- input -----------------------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        event.stop()
        event.prevent_default()
        if self.running:
            self.hosted.post_message(events.Key(event.key, event.character))

    def on_paste(self, event: events.Paste) -> None:
        event.stop()
        if self.running:
            self.hosted.post_message(events.Paste(event.text))

    def _forward_mouse(self, event: events.MouseEvent) -> None:
        event.stop()
        if not self.running:
            return
        region = self.content_region
        x, y = event.screen_x - region.x, event.screen_y - region.y
        if not (0 <= x < region.width and 0 <= y < region.height):
            return
        cls = type(event)
        self.hosted.post_message(cls(None, x, y, event.delta_x, event.delta_y, event.button, event.shift,
                                     event.meta, event.ctrl, screen_x=x, screen_y=y))

    def on_mouse_down(self, event: events.MouseDown) -> None:
        self.focus()
        self._forward_mouse(event)

    def on_mouse_up(self, event: events.MouseUp) -> None:
        self._forward_mouse(event)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self._forward_mouse(event)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._forward_mouse(event)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._forward_mouse(event)
