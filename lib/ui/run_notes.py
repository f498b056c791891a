"""A run's stored notes and status message in the reader's language.

Notes are written by the training worker (another process, English) and stored in the run's JSON,
so they come back as plain English strings. A note that is one of the templates below is shown
translated, its values (devices, file names, sizes) kept as they were; any other note stays as
stored. The note-writing code in lib keeps writing the English text, so stored runs and the CLI
are unchanged.
"""

from __future__ import annotations

import functools
import re

from lib.i18n import N_, Deferred, _, shown

# The English notes as lib/augment, lib/train and lib/runs write them ({name}: a value kept as is).
TEMPLATES = (
    # a run's status message (lib/train/training.py)
    N_("trained {n} epochs"),
    N_("trained {n} epoch"),  # one
    N_("stopped after {done} of {total} epochs"),
    # its notes
    N_("no augmentation: pixels rescaled by 1/255"),
    N_("the augmentation settings keep pixels at 0..255: rescale 1/255 added"),
    N_("trained on the {device}"),
    N_("trained on the {device}; {n} GPUs seen, --devices all uses every one"),
    N_("trained on the {device}: the only local device, nothing to mirror"),
    N_("trained on the Ray node {node}"),
    N_("the outputs were not probabilities: softmax applied"),
    N_("gray images repeated into 3 channels, as the model takes RGB"),
    N_("the single output unit gave logits: sigmoid applied"),
    N_("one sigmoid unit for 2 classes: read as [1 - p, p] (p is the second class)"),
    N_("uploaded {file}; test images scaled to {scale}"),
    N_("images resized from {size} to {model_size} (bilinear, as Try it resizes), inside the model"),
)


@functools.cache
def _patterns() -> tuple[tuple[re.Pattern, str], ...]:
    found = []
    for template in sorted(TEMPLATES, key=len, reverse=True):  # the most specific first
        parts = re.split(r"\{(\w+)\}", template)  # text, name, text, name, ...
        regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
        found.append((re.compile(regex), template))
    return tuple(found)


def shown_note(note: str) -> str:
    """`note` in the calling session's language when it is a Deferred text or one of TEMPLATES."""
    if shown(note) is not note:
        return shown(note)
    for pattern, template in _patterns():
        match = pattern.fullmatch(note)
        if match:
            return _(template).format(**match.groupdict())
    return note


def deferred_note(note: str) -> str:
    """`note` as a `Deferred` text when it is one of TEMPLATES (an error raised with it then shows it in
    the reader's language), else as it is. As a string it is the note itself."""
    for pattern, template in _patterns():
        match = pattern.fullmatch(note)
        if match:
            return Deferred(template, **match.groupdict())
    return note
