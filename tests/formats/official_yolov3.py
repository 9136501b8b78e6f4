"""The structure of darknet's official ``yolov3.cfg`` (YOLOv3-608, COCO's 80 classes), written
out here from its published description: Darknet-53 (a 3x3 conv of 32, then five downsampling
stages of 1, 2, 8, 8 and 4 residual blocks) and three detection heads at strides 32, 16 and 8,
each fed by a route back into the backbone after an upsample. Used to check the cfg reader and
the weights layout against the official file's size without downloading it."""

#: The official yolov3.weights: 248,007,048 bytes (a 20-byte header, version 0.2 with a 64-bit
#: ``seen``, then 62,001,757 float32 values).
OFFICIAL_WEIGHTS_BYTES = 248_007_048
ANCHORS = "10,13,  16,30,  33,23,  30,61,  62,45,  59,119,  116,90,  156,198,  373,326"


def _conv(filters: int, size: int, stride: int = 1, activation: str = "leaky") -> str:
    norm = "batch_normalize=1\n" if activation == "leaky" else ""
    return (
        f"[convolutional]\n{norm}filters={filters}\nsize={size}\nstride={stride}\npad=1\n"
        f"activation={activation}\n"
    )


def _head(mask: str, classes: int) -> str:
    return (
        f"[yolo]\nmask = {mask}\nanchors = {ANCHORS}\nclasses={classes}\nnum=9\njitter=.3\n"
        "ignore_thresh = .7\ntruth_thresh = 1\nrandom=1\n"
    )


def official_yolov3_cfg(classes: int = 80, side: int = 608) -> str:
    """The text of a cfg with the official YOLOv3's structure."""
    parts = [
        "[net]\n# Testing\nbatch=1\nsubdivisions=1\n"
        f"width={side}\nheight={side}\nchannels=3\nmomentum=0.9\ndecay=0.0005\nangle=0\n"
        "saturation = 1.5\nexposure = 1.5\nhue=.1\n\nlearning_rate=0.001\nburn_in=1000\n"
        "max_batches = 500200\npolicy=steps\nsteps=400000,450000\nscales=.1,.1\n",
        _conv(32, 3),
    ]
    for filters, blocks in ((64, 1), (128, 2), (256, 8), (512, 8), (1024, 4)):
        parts.append(_conv(filters, 3, 2))
        for _ in range(blocks):
            parts += [
                _conv(filters // 2, 1),
                _conv(filters, 3),
                "[shortcut]\nfrom=-3\nactivation=linear\n",
            ]
    outputs = 3 * (5 + classes)
    for width, mask, route in ((512, "6,7,8", None), (256, "3,4,5", 61), (128, "0,1,2", 36)):
        if route is not None:
            parts += ["[route]\nlayers = -4\n", _conv(width, 1), "[upsample]\nstride=2\n"]
            parts.append(f"[route]\nlayers = -1, {route}\n")
        for _ in range(3):
            parts += [_conv(width, 1), _conv(width * 2, 3)]
        parts += [_conv(outputs, 1, activation="linear"), _head(mask, classes)]
    return "\n".join(parts)
