"""The live progress of a ``map``: done / failed / running, throughput and ETA.

Built on the main thread; the map's worker threads only set its trait values, so it keeps
updating while the cell waits, or while the kernel is free when the map runs in the background.
"""
from __future__ import annotations

import threading
import time
from typing import Any

import ipywidgets as widgets

from ..fanout import Progress
from .views import esc
from .widgets import WIDGET_MIME, frontend_available, view_reference

MIN_INTERVAL_S = 0.1


class MapProgress(widgets.VBox):
    def __init__(self, name: str, total: int, **kwargs: Any) -> None:
        self.name = name
        self.bar = widgets.IntProgress(value=0, min=0, max=max(1, total), bar_style="info",
                                       layout=widgets.Layout(width="100%"))
        self.label = widgets.HTML()
        super().__init__(children=[self.bar, self.label], **kwargs)
        self._last = 0.0
        self._lock = threading.Lock()
        self.progress = Progress(total)
        self.update(self.progress, force=True)

    def update(self, progress: Progress, force: bool = False) -> None:
        """Called from any thread; rate-limited so a fast map does not flood the front end."""
        now = time.monotonic()
        with self._lock:
            if not force and progress.finished is None and now - self._last < MIN_INTERVAL_S:
                return
            self._last = now
            self.progress = progress
            self.bar.value = progress.done
            if progress.finished is not None:
                self.bar.bar_style = "danger" if progress.failed else (
                    "warning" if progress.cancelled else "success")
            self.label.value = (f'<span class="tex2jax_ignore" style="font-size: 12px;">'
                                f"{esc(self.name)}: {esc(progress.line())}</span>")

    def __repr__(self) -> str:
        return f"map {self.name}: {self.progress.line()}"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict:
        bundle: dict[str, Any] = {"text/plain": repr(self), "text/html": self.label.value}
        if frontend_available():
            bundle[WIDGET_MIME] = view_reference(self)
        return bundle
