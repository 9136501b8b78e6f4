"""VOC-style annotation files (one XML file per image), written and read strictly."""

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from workflow.errors import FormatError


@dataclass(frozen=True)
class Annotation:
    """One object: class name and pixel box (xmin, ymin, xmax, ymax), max exclusive; a
    ``difficult`` object (VOC) neither counts as missed nor as a false alarm when scoring."""

    name: str
    box: tuple[int, int, int, int]
    difficult: bool = False


def voc_xml(filename: str, width: int, height: int, objects: list[Annotation]) -> str:
    """The VOC annotation of one image (pixel boxes, max exclusive as written)."""
    root = ET.Element("annotation")
    ET.SubElement(root, "filename").text = filename
    size = ET.SubElement(root, "size")
    for tag, value in (("width", width), ("height", height), ("depth", 3)):
        ET.SubElement(size, tag).text = str(value)
    for item in objects:
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = item.name
        ET.SubElement(obj, "difficult").text = str(int(item.difficult))
        box = ET.SubElement(obj, "bndbox")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), item.box, strict=True):
            ET.SubElement(box, tag).text = str(value)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def read_voc(
    path: str | Path, *, classes: tuple[str, ...]
) -> tuple[tuple[int, int], list[Annotation]]:
    """Read one VOC annotation: ((width, height), objects).

    Raises:
        FormatError: malformed XML, a missing field, a class not in ``classes``, or a box that
            is empty or outside the image; the file and the object are named.
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as err:
        raise FormatError(path, f"not a readable XML annotation ({err})") from err

    def number(node: ET.Element | None, tag: str, where: str) -> int:
        field = None if node is None else node.find(tag)
        if field is None or field.text is None or not field.text.strip().lstrip("-").isdigit():
            raise FormatError(path, f"{where}: <{tag}> missing or not an integer")
        return int(field.text)

    size = root.find("size")
    width, height = number(size, "width", "size"), number(size, "height", "size")
    objects = []
    for index, obj in enumerate(root.findall("object")):
        name = (obj.findtext("name") or "").strip()
        where = f"object {index} ({name or 'no name'})"
        if name not in classes:
            raise FormatError(
                path, f"{where}: unknown class {name!r}", f"known classes: {', '.join(classes)}"
            )
        box_node = obj.find("bndbox")
        box = tuple(number(box_node, tag, where) for tag in ("xmin", "ymin", "xmax", "ymax"))
        xmin, ymin, xmax, ymax = box
        if not (0 <= xmin < xmax <= width and 0 <= ymin < ymax <= height):
            raise FormatError(
                path, f"{where}: box {box} is empty or outside the {width}x{height} image"
            )
        difficult = (obj.findtext("difficult") or "0").strip()
        if difficult not in ("0", "1"):
            raise FormatError(path, f"{where}: <difficult> is {difficult!r}, expected 0 or 1")
        objects.append(Annotation(name, box, difficult == "1"))
    return (width, height), objects
