"""Headless sessions on one running server, over Streamlit's own client protocol: a websocket to
`/_stcore/stream` carrying the same protobuf messages a browser tab sends (BackMsg: rerun with
widget states) and receives (ForwardMsg: deltas, script finished). No browser, so eight sessions
cost the server what eight tabs cost it, and nothing of the browsers' own work lands on the cores.

Used by bench/classroom.py (the class figure) and tests/test_class_load.py."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

WIDGETS = ("button", "number_input", "selectbox", "radio", "checkbox", "text_input", "slider", "multiselect")


def _strings(message: Any) -> list[str]:
    """Every string field of a protobuf message, nested ones included (the texts an element shows)."""
    out = []
    for desc, value in message.ListFields():
        if desc.type == desc.TYPE_MESSAGE:
            for item in value if desc.is_repeated else [value]:
                out.extend(_strings(item))
        elif desc.type == desc.TYPE_STRING:
            out.extend(value if desc.is_repeated else [value])
    return out


@dataclass
class Widget:
    kind: str  # the element's type: "button", "number_input", ...
    id: str
    proto: Any


@dataclass
class HeadlessSession:
    """One session of the app at `url`, on the page `page` (its URL path)."""

    url: str
    page: str = ""
    query: str = ""
    widgets: dict[str, Widget] = field(default_factory=dict)  # by label, as the last run drew them
    states: dict[str, WidgetState] = field(default_factory=dict)  # by widget id: what this session has set
    texts: list[str] = field(default_factory=list)  # every text the last run drew
    exceptions: list[str] = field(default_factory=list)
    _ws: Any = None

    async def connect(self) -> None:
        ws_url = self.url.replace("http://", "ws://").rstrip("/") + "/_stcore/stream"
        self._ws = await websockets.connect(ws_url, subprotocols=["streamlit"], max_size=None)
        await self.rerun()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()

    async def rerun(self, *until: str, timeout_s: float = 300) -> None:
        """Send a rerun with this session's widget states and read the runs it causes until a run
        finishes (and, with `until`, until each of its texts was drawn)."""
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = self.query
        state.page_name = self.page
        state.widget_states.widgets.extend(self.states.values())
        await self._ws.send(msg.SerializeToString())
        # Triggers fire once: the next rerun sends the widget without them, as a browser does.
        self.states = {k: v for k, v in self.states.items() if not v.HasField("trigger_value")}
        await self._read(until, timeout_s)

    async def _read(self, until: tuple[str, ...], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        self.texts, self.exceptions = [], []
        while True:
            raw = await asyncio.wait_for(self._ws.recv(), max(0.1, deadline - time.monotonic()))
            fwd = ForwardMsg()
            fwd.ParseFromString(raw)
            kind = fwd.WhichOneof("type")
            if kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                self._saw(fwd.delta.new_element)
            elif kind == "script_finished" and (not until or self.shows(*until)):
                return

    def _saw(self, element: Any) -> None:
        kind = element.WhichOneof("type")
        if kind in WIDGETS:
            proto = getattr(element, kind)
            self.widgets[proto.label] = Widget(kind, proto.id, proto)
        if kind == "exception":
            self.exceptions.append(element.exception.message)
        self.texts.extend(_strings(element))

    def shows(self, *parts: str) -> bool:
        """Whether the runs read last drew each of these texts (each within some element)."""
        return all(any(p in t for t in self.texts) for p in parts)

    def set(self, label: str, value: Any) -> None:
        """Set a widget (by its label) for the next rerun: a number, a selectbox option's text."""
        w = self.widgets[label]
        s = WidgetState(id=w.id)
        if w.kind == "number_input":
            if w.proto.data_type == w.proto.INT:
                s.int_value = int(value)
            else:
                s.double_value = float(value)
        elif w.kind in ("selectbox", "radio", "text_input"):
            s.string_value = str(value)
        elif w.kind == "checkbox":
            s.bool_value = bool(value)
        else:
            raise ValueError(f"cannot set a {w.kind}")
        self.states[w.id] = s

    def press(self, label: str) -> None:
        self.states[self.widgets[label].id] = WidgetState(id=self.widgets[label].id, trigger_value=True)


def class_rounds(url: str, rounds: list[list[int]], after_round: Any = None) -> list[HeadlessSession]:
    """A class on the Train page of the app at `url`: one session per seed of the first round,
    each set to MLP and 1 epoch; each round sets the sessions' seeds, presses Train in all of them
    at once and reads until every session shows the complete run of its own seed.
    `after_round(i)` runs between rounds (a test's checks). The sessions are closed at the end."""

    async def press_all(sessions: list[HeadlessSession], seeds: list[int]) -> None:
        for session, seed in zip(sessions, seeds, strict=True):
            session.set("Seed", seed)
        await asyncio.gather(*(session.rerun() for session in sessions))
        for session in sessions:
            session.press("Train")
        await asyncio.gather(
            *(
                session.rerun("status **complete**", f"· seed {seed} ·", timeout_s=400)
                for session, seed in zip(sessions, seeds, strict=True)
            )
        )

    async def lesson() -> list[HeadlessSession]:
        sessions = [HeadlessSession(url, page="train") for _ in rounds[0]]
        try:
            for session in sessions:
                await session.connect()
                assert session.exceptions == [] and "Train" in session.widgets, session.exceptions
                mlp = next(o for o in session.widgets["Model"].proto.options if o.startswith("MLP"))
                session.set("Model", mlp)
                session.set("Epochs", 1)
            for i, seeds in enumerate(rounds):
                await press_all(sessions, seeds)
                if after_round is not None:
                    after_round(i)
        finally:
            for session in sessions:
                await session.close()
        return sessions

    return asyncio.run(lesson())
