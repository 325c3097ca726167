"""Live figures on function cards: one background thread refreshes every open card's stats line.

It only sets trait values (widgets are built on the main thread), and stops looking at a card once
the card is closed, garbage-collected, or its platform is closed.
"""
from __future__ import annotations

import threading
import weakref
from typing import Any

from ..errors import LambdaError
from .views import esc

INTERVAL_S = 0.5
_cards: "weakref.WeakSet[Any]" = weakref.WeakSet()
_lock = threading.Lock()
_thread: threading.Thread | None = None


def stats_html(stats: dict) -> str:
    reserved = "" if stats["reserved"] is None else f" of {stats['reserved']} reserved"
    parts = [f"concurrency in use: <b>{stats['in_flight']}</b>{esc(reserved)}",
             f"queued async events: <b>{stats['queued']}</b>",
             f"throttles: <b>{stats['throttles']}</b>",
             f"DLQ: <b>{stats['dead_letters']}</b>",
             f"sandboxes: <b>{stats['sandboxes']}</b>"]
    return ('<div class="tex2jax_ignore" style="font-size: 12px; color: #57606a;">'
            + " · ".join(parts) + "</div>")


def stats_text(stats: dict) -> str:
    reserved = "" if stats["reserved"] is None else f"/{stats['reserved']}"
    return (f"in flight {stats['in_flight']}{reserved}, queued {stats['queued']}, "
            f"throttles {stats['throttles']}, DLQ {stats['dead_letters']}, "
            f"sandboxes {stats['sandboxes']}")


def refresh(card: Any) -> bool:
    """Update one card's stats; False once the card should no longer be watched."""
    if card.platform.closed or getattr(card, "comm", True) is None:
        return False
    try:
        stats = card.platform.function_stats(card.name)
    except LambdaError:
        return False
    html = stats_html(stats)
    if card.stats.value != html:
        card.stats.value = html
    return True


def watch(card: Any) -> None:
    global _thread
    with _lock:
        _cards.add(card)
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_loop, name="nblambda-cards", daemon=True)
            _thread.start()


def _loop() -> None:
    stop = threading.Event()
    while True:
        stop.wait(INTERVAL_S)
        with _lock:
            cards = list(_cards)
            if not cards:
                global _thread
                _thread = None
                return
        for card in cards:
            try:
                keep = refresh(card)
            except Exception:
                keep = False
            if not keep:
                with _lock:
                    _cards.discard(card)
