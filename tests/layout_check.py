"""What Graphviz laid out, read from its JSON output: every text's box, every node's shape, the size.

Text boxes come from Graphviz's own draw operations (a ``T`` op: baseline point, alignment and width, after
an ``F`` op giving the font size), so they are the boxes dot placed the text in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import graphviz


@dataclass(frozen=True)
class Box:
    owner: str
    text: str
    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Box, slack: float = 0.5) -> bool:
        return (
            self.x0 + slack < other.x1
            and other.x0 + slack < self.x1
            and self.y0 + slack < other.y1
            and other.y0 + slack < self.y1
        )


@dataclass(frozen=True)
class Shape:
    name: str
    shape: str
    x: float
    y: float
    half_width: float
    half_height: float

    def meets(self, box: Box, slack: float = 0.5) -> bool:
        """Whether the box reaches inside the node's outline (an ellipse for circles and ellipses)."""
        nearest_x = min(max(self.x, box.x0 + slack), box.x1 - slack)
        nearest_y = min(max(self.y, box.y0 + slack), box.y1 - slack)
        dx, dy = (nearest_x - self.x) / self.half_width, (nearest_y - self.y) / self.half_height
        if self.shape in ("circle", "ellipse", "doublecircle"):
            return dx * dx + dy * dy < 1
        return abs(dx) < 1 and abs(dy) < 1


@dataclass(frozen=True)
class Layout:
    width: float  # points
    height: float
    texts: list[Box]
    shapes: list[Shape]

    def slide_scale(self, width_px: float = 1920, height_px: float = 1080) -> float:
        """The scale at which the drawing fits a 16:9 slide (SVG points are 4/3 CSS px)."""
        return min(width_px / (self.width * 4 / 3), height_px / (self.height * 4 / 3))

    def overlapping_texts(self) -> list[tuple[Box, Box]]:
        boxes = self.texts
        return [
            (a, b)
            for i, a in enumerate(boxes)
            for b in boxes[i + 1 :]
            if a.owner != b.owner and a.overlaps(b)
        ]

    def texts_on_shapes(self) -> list[tuple[Box, Shape]]:
        """Wire texts (owners starting ``edge``) that reach into a node."""
        return [
            (box, shape)
            for box in self.texts
            if box.owner.startswith("edge")
            for shape in self.shapes
            if shape.meets(box)
        ]


def _boxes(owner: str, ops: list[dict]) -> list[Box]:
    boxes, size = [], 14.0
    for op in ops:
        if op["op"] == "F":
            size = float(op["size"])
        elif op["op"] == "T":
            x, y = op["pt"]
            width = float(op["width"])
            left = {"l": x, "c": x - width / 2, "r": x - width}[op["align"]]
            # The baseline is at y (y grows upwards): descenders below, capitals and accents above.
            boxes.append(Box(owner, op["text"], left, y - 0.22 * size, left + width, y + 0.8 * size))
    return boxes


def layout_of(diagram: graphviz.Digraph) -> Layout:
    data = json.loads(diagram.pipe(format="json", quiet=True))
    _, _, width, height = (float(v) for v in data["bb"].split(","))
    texts = _boxes("graph", data.get("_ldraw_", []))
    shapes = []
    for index, obj in enumerate(data.get("objects", [])):
        owner = f"object {obj.get('name', index)}"
        texts += _boxes(owner, obj.get("_ldraw_", []))
        if "pos" in obj and obj.get("style") != "invis" and obj.get("shape") != "point":
            x, y = (float(v) for v in obj["pos"].split(","))
            w, h = float(obj["width"]) * 72 / 2, float(obj["height"]) * 72 / 2
            shapes.append(Shape(obj["name"], obj.get("shape", "ellipse"), x, y, w, h))
    for index, edge in enumerate(data.get("edges", [])):
        for key in ("_ldraw_", "_tldraw_", "_hldraw_"):
            texts += _boxes(f"edge {index}{key}", edge.get(key, []))
    return Layout(width, height, texts, shapes)
