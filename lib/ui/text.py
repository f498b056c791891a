"""User-supplied strings (class names, file names, run names, notes, JSON values, messages
that quote them) shown as text inside Streamlit elements that interpret Markdown.

`st.markdown`, captions, alerts, labels, progress texts and image captions all render
Markdown: a class name `![x](http://host/beacon.png)` would make every viewer's browser
fetch that URL. `md(s)` backslash-escapes what Markdown (and Streamlit's directives such as
`:red[...]`, `:material/...:` and `$...$` math) would give a meaning, so the text shows as
typed; ordinary words, numbers and quotes are left as they are.
"""

from __future__ import annotations

import re

from lib.data.paths import printable

# Anywhere in a line: links and images, emphasis, code, strikethrough, math, directives,
# autolinks and HTML, entities, the escape character itself.
_ANYWHERE = re.compile(r"([\\`*\[\]!<~$&])")
# Colons only where Streamlit would read an icon or an emoji shortcode (`:material/home:`,
# `:smile:`); directives such as `:red[...]` need a bracket, which is escaped anyway.
_SHORTCODE = re.compile(r":(?=material/|[a-z_+\-]+:)")
# Underscores emphasise only at a word's edge (GFM): `X_train` stays as it is.
_EDGE_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
# At the start of the text: headings, quotes, list items ("-", "+", "1." or "1)").
_LINE_START = re.compile(r"^(\s*)([#>+\-]|\d+(?=[.)]))")


def md(value: object) -> str:
    """`value` as Markdown source that renders as exactly its text, on one line."""
    text = str(value)
    text = " ".join(text.splitlines()) if ("\n" in text or "\r" in text) else text
    text = printable(text)  # controls and bidi overrides shown as escapes, as the CLI shows them
    text = _ANYWHERE.sub(r"\\\1", text)
    text = _EDGE_UNDERSCORE.sub(r"\\_", text)
    text = _SHORTCODE.sub(r"\\:", text)
    match = _LINE_START.match(text)
    if match:
        lead, token = match.groups()
        if token[0].isdigit():  # "1." -> "1\." : escape the list marker's punctuation
            end = match.end()
            text = text[:end] + "\\" + text[end:]
        else:
            text = f"{lead}\\{text[len(lead) :]}"
    return text
