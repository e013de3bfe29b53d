"""Work around pyqtgraph's SVG exporter failing on closed paths (pyqtgraph issue #3495).

Qt 6's SVG generator ends closed paths with "Z"; pyqtgraph 0.14's `correctCoordinates` splits
every path token on "," and raises ValueError on the bare "Z", so *every* plot fails to export
(the ViewBox background rectangle alone triggers it). The wrapper below drops the "Z" tokens
before pyqtgraph rewrites the coordinates and puts a final "Z" back afterwards. Qt writes the
closing point explicitly before "Z", so strokes are unchanged and fills close implicitly.

`install()` is idempotent and harmless once pyqtgraph handles "Z" itself.

`unframe(svg)`: pyqtgraph writes each view's clip path inside a group stroked black; renderers
that stroke a clip path's outline (Qt's, some viewers) then draw a black frame round every plot.
The clip paths get stroke="none".
"""
from __future__ import annotations

import re
import sys

import pyqtgraph.exporters.SVGExporter  # noqa: F401  (the module, not the class of that name)

_module = sys.modules["pyqtgraph.exporters.SVGExporter"]


def install() -> None:
    original = getattr(_module, "correctCoordinates", None)
    if original is None or getattr(original, "_babysit_fix", False):
        return

    def correct_coordinates(node, defs, item, options):
        closed = []
        for path in node.getElementsByTagName("path"):
            d = path.getAttribute("d")
            if "Z" in d or "z" in d:
                tokens = [t for t in d.split() if t not in ("Z", "z")]
                closed.append(path)
                path.setAttribute("d", " ".join(tokens))
        result = original(node, defs, item, options)
        for path in closed:
            d = path.getAttribute("d").strip()
            if d:
                path.setAttribute("d", d + " Z")
        return result

    correct_coordinates._babysit_fix = True
    _module.correctCoordinates = correct_coordinates


_CLIP = re.compile(r"(<clipPath\b[^>]*>)(.*?)(</clipPath>)", re.S)


def unframe(svg: str) -> str:
    """`svg` with its clip paths unstroked (see the module docstring)."""
    return _CLIP.sub(lambda m: m.group(1) + m.group(2).replace("<path ", '<path stroke="none" ') + m.group(3), svg)
