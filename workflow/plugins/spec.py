"""The sample plugins as ONNX nodes and as the fields their creators receive.

An ONNX node whose op type names a registered plugin (``FCPlugin``, ``ClipPlugin``) is handed by
TensorRT's ONNX parser to that plugin's creator (``plugin_namespace`` and ``plugin_version``
attributes pick it): every other attribute becomes one field of the same name, a float tensor
or float list a FLOAT32 field of its values, an int an INT32 field, a float a FLOAT32 field of
one value. The creator checks the fields and makes the plugin; the plugin returns the same
fields to be serialized into the engine (``getFieldsToSerialize``), and the creator makes it
again from them when the engine is loaded. This module describes both sides in Python, as
``plugins/src`` implements them in C++, so that what the creator receives is tested on CPU.
"""

from dataclasses import dataclass

import numpy as np

from workflow.errors import PipelineError

#: The ONNX domain of plugin nodes in this pipeline's graphs, and the plugins' namespace and
#: version (``plugins/src/fields.h``).
DOMAIN = "trt_samples"
NAMESPACE = "trt_samples"
VERSION = "1"
#: Node attributes the parser reads itself (not fields).
PARSER_ATTRIBUTES = ("plugin_namespace", "plugin_version")
#: The plugins and their fields (name -> kind: floats, float or int), as the creators read them.
FIELDS = {
    "FCPlugin": {"weights": "floats", "bias": "floats", "outFeatures": "int"},
    "ClipPlugin": {"clipMin": "float", "clipMax": "float"},
}
PLUGIN_OPS = tuple(FIELDS)


@dataclass(frozen=True)
class Field:
    """One plugin field: its name, TensorRT type (``FLOAT32``, ``INT32``, ``CHAR``), bytes
    (little-endian) and number of values."""

    name: str
    type: str
    data: bytes
    length: int


def fc_node(name: str, inp: str, out: str, weights: np.ndarray, bias: np.ndarray) -> "object":
    """An FCPlugin node: y = x W^T + b with weights (out, in) and bias (out,) as tensor
    attributes (the fields the plugin serializes)."""
    from onnx import helper, numpy_helper

    weights = np.ascontiguousarray(weights, np.float32)
    bias = np.ascontiguousarray(bias, np.float32)
    if weights.ndim != 2 or bias.shape != (weights.shape[0],):
        raise PipelineError(name, f"weights {weights.shape} and bias {bias.shape} do not pair")
    return helper.make_node(
        "FCPlugin",
        [inp],
        [out],
        name=name,
        domain=DOMAIN,
        weights=numpy_helper.from_array(weights, f"{name}_weights"),
        bias=numpy_helper.from_array(bias, f"{name}_bias"),
        outFeatures=int(weights.shape[0]),
        plugin_namespace=NAMESPACE,
        plugin_version=VERSION,
    )


def clip_node(name: str, inp: str, out: str, low: float, high: float) -> "object":
    """A ClipPlugin node: y = min(max(x, low), high)."""
    from onnx import helper

    return helper.make_node(
        "ClipPlugin",
        [inp],
        [out],
        name=name,
        domain=DOMAIN,
        clipMin=float(low),
        clipMax=float(high),
        plugin_namespace=NAMESPACE,
        plugin_version=VERSION,
    )


def node_fields(node: "object") -> list[Field]:
    """The fields TensorRT's ONNX parser hands a plugin node's creator (one per attribute).

    Raises:
        PipelineError: an attribute of a kind the parser cannot pass.
    """
    from onnx import AttributeProto, numpy_helper

    fields = []
    for attribute in node.attribute:
        if attribute.name in PARSER_ATTRIBUTES:
            continue
        if attribute.type == AttributeProto.TENSOR:
            values = numpy_helper.to_array(attribute.t)
            kind = {np.float32: "FLOAT32", np.int32: "INT32"}.get(values.dtype.type)
            if kind is None:
                raise PipelineError(node.name, f"attribute {attribute.name}: {values.dtype} tensor")
            flat = values.ravel().astype(values.dtype.newbyteorder("<"))
            fields.append(Field(attribute.name, kind, flat.tobytes(), flat.size))
        elif attribute.type == AttributeProto.FLOAT:
            fields.append(Field(attribute.name, "FLOAT32", np.float32(attribute.f).tobytes(), 1))
        elif attribute.type == AttributeProto.INT:
            fields.append(Field(attribute.name, "INT32", np.int32(attribute.i).tobytes(), 1))
        elif attribute.type == AttributeProto.FLOATS:
            values = np.asarray(attribute.floats, "<f4")
            fields.append(Field(attribute.name, "FLOAT32", values.tobytes(), values.size))
        elif attribute.type == AttributeProto.STRING:
            fields.append(Field(attribute.name, "CHAR", attribute.s, len(attribute.s)))
        else:
            raise PipelineError(
                node.name, f"attribute {attribute.name} of a kind plugins do not take"
            )
    return fields


def plugin_values(op_type: str, fields: list[Field]) -> dict:
    """What a creator makes of its fields (``createPlugin`` in ``plugins/src``): the values by
    field name, checked as the C++ creator checks them.

    Raises:
        PipelineError: an unknown plugin, or fields the creator refuses (its message).
    """
    if op_type not in FIELDS:
        raise PipelineError(op_type, "no such sample plugin", f"choose among {PLUGIN_OPS}")
    by_name = {field.name: field for field in fields}
    values = {}
    for name, kind in FIELDS[op_type].items():
        field = by_name.get(name)
        if field is None or (kind == "int") != (field.type == "INT32"):
            values = None
            break
        array = np.frombuffer(field.data, "<i4" if kind == "int" else "<f4", field.length)
        if kind != "floats" and field.length != 1:
            values = None
            break
        values[name] = (
            int(array[0])
            if kind == "int"
            else (float(array[0]) if kind == "float" else array.copy())
        )
    if op_type == "FCPlugin":
        if values is None:
            raise PipelineError(
                op_type, "needs float fields weights and bias and an int field outFeatures"
            )
        out = values["outFeatures"]
        weights, bias = values["weights"], values["bias"]
        if out < 1 or bias.size != out or not weights.size or weights.size % out:
            raise PipelineError(
                op_type, "needs outFeatures >= 1 bias values and a multiple of it in weights"
            )
        values["weights"] = weights.reshape(out, -1)
        return values
    if values is None:
        raise PipelineError(op_type, "needs float fields clipMin and clipMax of one value each")
    if not values["clipMin"] <= values["clipMax"]:
        raise PipelineError(op_type, "needs clipMin <= clipMax")
    return values


def fields_to_serialize(op_type: str, values: dict) -> list[Field]:
    """The fields a plugin returns to be serialized into the engine (``getFieldsToSerialize``)."""
    fields = []
    for name, kind in FIELDS[op_type].items():
        if kind == "int":
            fields.append(Field(name, "INT32", np.int32(values[name]).tobytes(), 1))
        else:
            array = np.asarray(values[name], "<f4").ravel()
            fields.append(Field(name, "FLOAT32", array.tobytes(), array.size))
    return fields
