"""Augmentation widgets drawn from lib.augment.PARAMS (one table, not widget by widget).

Widget keys are `aug_<name>`. Widget state is dropped when the user leaves the page, so
the page keeps the settings in state.AUGMENT and seeds the widgets from it.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from lib.augment.settings import PARAMS, Param, check, validate
from lib.i18n import N_, _, shown
from lib.ui.text import md

GROUP_TITLES = {
    "geometry": N_("Geometry"),
    "colour": N_("Colour"),
    "fill": N_("Fill"),
    "normalization": N_("Rescale & normalize"),
}
# Readable words that wrap between words in a narrow column ("rotation range"); the exact
# parameter name stays in the help text and in the generated code.
LABELS = {
    "rotation_range": N_("rotation range"),
    "width_shift_range": N_("width shift range"),
    "height_shift_range": N_("height shift range"),
    "shear_range": N_("shear range"),
    "zoom_range": N_("zoom range"),
    "horizontal_flip": N_("horizontal flip"),
    "vertical_flip": N_("vertical flip"),
    "channel_shift_range": N_("channel shift range"),
    "brightness_range": N_("brightness range"),
    "fill_mode": N_("fill mode"),
    "cval": N_("cval"),
    "rescale": N_("rescale"),
    "samplewise_center": N_("samplewise center"),
    "samplewise_std_normalization": N_("samplewise std normalization"),
    "featurewise_center": N_("featurewise center"),
    "featurewise_std_normalization": N_("featurewise std normalization"),
}


def _key(name: str) -> str:
    return f"aug_{name}"


def load_into_widgets(config: dict[str, Any], *, overwrite: bool) -> None:
    """Put a config into the widgets' session keys (before they are drawn)."""
    full = check(config)
    for p in PARAMS:
        value = full[p.name]
        if p.kind == "range":
            pairs = {"on": value is not None, "low": (value or [0.8, 1.2])[0], "high": (value or [0.8, 1.2])[1]}
            for suffix, v in pairs.items():
                k = _key(f"{p.name}_{suffix}")
                if overwrite or k not in st.session_state:
                    st.session_state[k] = v
        elif p.kind == "rescale":
            if overwrite or _key(p.name) not in st.session_state:
                st.session_state[_key(p.name)] = _rescale_label(value)
        elif overwrite or _key(p.name) not in st.session_state:
            st.session_state[_key(p.name)] = (
                float(value) if p.kind == "float" else int(value) if p.kind == "int" else value
            )


def controls_ui() -> tuple[dict[str, Any], dict[str, str]]:
    """Draw every control, grouped; return (raw config, {param: problem})."""
    raw: dict[str, Any] = {}
    groups: dict[str, list[Param]] = {}
    for p in PARAMS:
        groups.setdefault(p.group, []).append(p)
    slots = {}
    for group, params in groups.items():
        with st.expander(_(GROUP_TITLES[group]), expanded=group in ("geometry", "normalization")):
            for p in params:
                raw[p.name] = _control(p)
                slots[p.name] = st.empty()
    problems = validate(raw)
    for name, message in problems.items():
        if name in slots:
            slots[name].error(md(shown(message)))  # next to the control it is about
    return raw, problems


def _label(name: str) -> str:
    return _(LABELS[name]) if name in LABELS else name.replace("_", " ")


def _control(p: Param) -> Any:
    k = _key(p.name)
    help_text = f"`{p.name}`: {_(p.help)}"
    if p.kind == "bool":
        return st.checkbox(_label(p.name), key=k, help=help_text)
    if p.kind == "choice":
        return st.selectbox(_label(p.name), p.choices, key=k, help=help_text)
    if p.kind == "rescale":
        labels = [_rescale_label(v) for v in p.choices]  # codes ("none", "1/255"): the same in every language
        label = st.selectbox(_label(p.name), labels, key=k, help=help_text, format_func=_rescale_shown)
        return p.choices[labels.index(label)]
    if p.kind == "range":
        on = st.checkbox(_("{label} (on)").format(label=_label(p.name)), key=_key(f"{p.name}_on"), help=help_text)
        c1, c2 = st.columns(2)
        low = c1.number_input(_("min factor"), key=_key(f"{p.name}_low"), step=p.step, disabled=not on, format="%.2f")
        high = c2.number_input(_("max factor"), key=_key(f"{p.name}_high"), step=p.step, disabled=not on, format="%.2f")
        return [low, high] if on else None
    # Numbers: no widget bounds on purpose, so a typed negative gets a message, not a silent clamp.
    if p.kind == "int":
        return st.number_input(_label(p.name), key=k, step=int(p.step or 1), help=help_text)
    return st.number_input(_label(p.name), key=k, step=p.step, help=help_text, format="%.2f")


def _rescale_shown(code: str) -> str:
    return _("none") if code == "none" else code


def _rescale_label(value: float | None) -> str:
    return "none" if value is None else "1/255" if abs(value - 1 / 255) < 1e-12 else f"{value:g}"
