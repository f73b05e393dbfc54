"""``index.html`` beside generated files: one self-contained page (no scripts, no network) with,
for each piece, its piano roll, an audio player when a WAV exists and the MIDI link, and
optionally a table (the eval suite's statistics of samples against the data).

Every reference is a file name relative to the page, so the folder can be moved or served as is.
"""

from __future__ import annotations

import dataclasses
import html
from pathlib import Path

STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em;max-width:1100px;color:#222}
h1{font-size:1.3em}h2{font-size:1.05em;margin:1.2em 0 .3em}
.piece{border-top:1px solid #ddd;padding:.4em 0}img{max-width:100%}
audio{width:100%;max-width:600px;display:block;margin:.3em 0}
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;padding:.2em .5em;
text-align:right}td:first-child,th:first-child{text-align:left}.note{color:#555;font-size:.9em}"""


@dataclasses.dataclass
class PagePiece:
    """One piece on the page: file names relative to the page; ``wav`` None when not rendered."""
    name: str
    midi: str
    png: str
    wav: str | None = None
    caption: str = ""


def write_index(out: Path, title: str, pieces: list[PagePiece],
                table: tuple[list[str], list[list[str]]] | None = None,
                notes: list[str] = (), figures: list[str] = ()) -> Path:
    """Write ``out/index.html``; ``table`` is (header, rows) of strings, shown above the pieces,
    then ``figures`` (image file names)."""
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{e(title)}</h1>"]
    parts += [f"<pre class='note'>{e(n)}</pre>" if "\n" in n else f"<p class='note'>{e(n)}</p>"
              for n in notes]  # a note of several lines is a fixed-width text block
    if table is not None:
        header, rows = table
        parts.append("<h2>Statistics: samples against the data</h2><table><tr>"
                     + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows]
        parts.append("</table>")
    parts += [f"<p><img src='{e(f)}' alt='{e(f)}'></p>" for f in figures]
    for p in pieces:
        parts.append(f"<div class='piece'><h2>{e(p.name)}</h2>")
        if p.caption:
            parts.append(f"<p class='note'>{e(p.caption)}</p>")
        parts.append(f"<img src='{e(p.png)}' alt='piano roll of {e(p.name)}'>")
        if p.wav:
            parts.append(f"<audio controls preload='none' src='{e(p.wav)}'></audio>")
        parts.append(f"<p><a href='{e(p.midi)}' download>MIDI: {e(p.midi)}</a>"
                     + (f" &middot; <a href='{e(p.wav)}' download>WAV</a>" if p.wav else "")
                     + "</p></div>")
    parts.append("</body></html>\n")
    path = Path(out) / "index.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
