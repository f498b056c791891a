"""A small heuristic for "an English sentence on a Korean page": a run of three or more English
words in lowercase letters ("the test split"), outside code (`...` spans and fenced blocks) and
outside the texts a page shows as they are (class names, data set names, run names).

Names we keep in English start with a capital letter or hold digits, dots or underscores (Keras,
ImageDataGenerator, PCA, t-SNE, HiResCAM, `rotation_range`, block5_conv3), so they are not words here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Three or more lowercase words separated by spaces or commas; a word that touches a letter,
# digit, underscore, dot, slash, hyphen or apostrophe belongs to a name or code ("x_train", "keras.layers").
_RUN = re.compile(r"(?<![\w./'’-])[a-z]+(?:[ ,]+[a-z]+){2,}(?![\w./'’(-])")
_CODE = re.compile(r"```.*?```|`[^`]*`", re.S)


def english_runs(text: str, keep: Iterable[str] = ()) -> list[str]:
    """The English word runs in `text`, after code and the `keep` strings are taken out."""
    text = _CODE.sub(" ", text.replace("\\", ""))
    for name in sorted({k for k in keep if k}, key=len, reverse=True):
        text = text.replace(name, " ")
    return _RUN.findall(text)
