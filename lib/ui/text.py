"""User-supplied strings (class names, file names, run names, notes, JSON values, messages
that quote them) shown as text inside Streamlit elements that interpret Markdown.

`st.markdown`, captions, alerts, labels, progress texts and image captions all render
Markdown: a class name `![x](http://host/beacon.png)` would make every viewer's browser
fetch that URL. `md(s)` escapes every character Markdown (and Streamlit's directives such as
`:red[...]`, `:material/...:` and `$...$` math) gives a meaning, so the text shows as typed.
"""

from __future__ import annotations

import re

from lib.data.paths import printable

# Every ASCII punctuation character may be backslash-escaped in CommonMark; these are the
# ones Markdown, GitHub-flavoured Markdown or Streamlit's directives treat specially.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$=&\"'])")


def md(value: object) -> str:
    """`value` as Markdown source that renders as exactly its text, on one line."""
    text = printable(str(value))
    text = " ".join(text.splitlines()) if ("\n" in text or "\r" in text) else text
    return _SPECIAL.sub(r"\\\1", text)
