"""Typing in Chromium as a person does on a German keyboard: Shift held for every capital (the
ways fast typists hold it), umlauts and ß from their own keys, a human pace between keys.

Playwright's ``keyboard.type`` sends "M" without any Shift and cannot type "Ä" as a key, so
it would never show what German typing does to a Shift shortcut. Capitals here go through
``keyboard.down("Shift")`` / ``press`` / ``up`` (a second ``down`` of a held key is sent as
auto-repeat, ``KeyboardEvent.repeat``), and the German keys through the DevTools protocol's
``Input.dispatchKeyEvent`` with the key and code a German layout sends. The keys go to whatever
has focus in the page, frames included.
"""

from __future__ import annotations

import asyncio
import random
from typing import Literal

from playwright.async_api import CDPSession, Page

# The German keys that a US layout lacks: (code, Windows virtual key code).
GERMAN_KEYS = {"ä": ("Quote", 222), "ö": ("Semicolon", 186), "ü": ("BracketLeft", 219),
               "ß": ("Minus", 189)}
# Characters typed with Shift on a German keyboard besides capitals.
SHIFTED = set('!"$%&/()=?:;_>*')
SHIFT_MASK = 8
# How a capital is typed. clean: Shift down, letter, Shift up. rollover: Shift comes up while
# the letter is still down (fast typists). held: Shift rests long enough to auto-repeat first.
Style = Literal["clean", "rollover", "held"]
STYLES: tuple[Style, ...] = ("clean", "rollover", "held")


class Typist:
    """One person at the keyboard of ``page``, with a seeded pace so a run can be repeated."""

    def __init__(self, page: Page, cdp: CDPSession, seed: int,
                 pace_s: tuple[float, float] = (0.06, 0.2)) -> None:
        self.page, self.cdp = page, cdp
        self.rng = random.Random(seed)
        self.pace_s = pace_s

    @classmethod
    async def at(cls, page: Page, seed: int, pace_s: tuple[float, float] = (0.06, 0.2)
                 ) -> Typist:
        """A typist at ``page``'s keyboard."""
        return cls(page, await page.context.new_cdp_session(page), seed, pace_s)

    async def _pause(self) -> None:
        await asyncio.sleep(self.rng.uniform(*self.pace_s))

    async def _german_key(self, char: str, shift: bool) -> None:
        code, vk = GERMAN_KEYS[char.lower()]
        modifiers = SHIFT_MASK if shift else 0
        await self.cdp.send("Input.dispatchKeyEvent", {
            "type": "keyDown", "key": char, "code": code, "windowsVirtualKeyCode": vk,
            "text": char, "unmodifiedText": char.lower(), "modifiers": modifiers})
        await self.cdp.send("Input.dispatchKeyEvent", {
            "type": "keyUp", "key": char, "code": code, "windowsVirtualKeyCode": vk,
            "modifiers": modifiers})

    async def _key(self, char: str, shift: bool = False) -> None:
        if char.lower() in GERMAN_KEYS:
            await self._german_key(char, shift)
        elif char == "\n":
            await self.page.keyboard.press("Shift+Enter" if shift else "Enter")
        else:
            await self.page.keyboard.press(char)

    async def _capital(self, char: str, style: Style) -> None:
        keyboard = self.page.keyboard
        await keyboard.down("Shift")
        if style == "held":
            for _ in range(self.rng.randint(3, 12)):
                await asyncio.sleep(0.033)  # a keyboard's auto-repeat rate
                await keyboard.down("Shift")
        else:
            await asyncio.sleep(self.rng.uniform(0.01, 0.05))
        if style == "rollover" and char.lower() not in GERMAN_KEYS:
            await keyboard.down(char)
            await keyboard.up("Shift")
            await asyncio.sleep(self.rng.uniform(0.005, 0.03))
            await keyboard.up(char)
            return
        await self._key(char, shift=True)
        await asyncio.sleep(self.rng.uniform(0.005, 0.04))
        await keyboard.up("Shift")

    async def type(self, text: str, style: Style | None = None) -> None:
        """Type ``text`` key by key; each capital in ``style``, or in a style drawn each time."""
        for char in text:
            if char.isupper() or char in SHIFTED:
                await self._capital(char, self.rng.choice(STYLES) if style is None else style)
            else:
                await self._key(char)
            await self._pause()

    async def hold_shift(self, repeats: int) -> None:
        """Hold Shift alone while it auto-repeats ``repeats`` times, then let go."""
        await self.page.keyboard.down("Shift")
        for _ in range(repeats):
            await asyncio.sleep(0.033)
            await self.page.keyboard.down("Shift")
        await self.page.keyboard.up("Shift")
        await self._pause()

    async def tap_shift(self, times: int = 1, gap_s: tuple[float, float] = (0.08, 0.2)) -> None:
        """Tap Shift alone ``times`` times, ``gap_s`` apart: the quick-exit gesture."""
        for i in range(times):
            if i:
                await asyncio.sleep(self.rng.uniform(*gap_s))
            await self.page.keyboard.down("Shift")
            await asyncio.sleep(self.rng.uniform(0.03, 0.08))
            await self.page.keyboard.up("Shift")
