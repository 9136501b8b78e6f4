"""dumpTFWts for today's TensorFlow: export a model's weights as .wts (v1) or .wts2 (v2).

Reads a Keras model (.keras) or a TF2 checkpoint (the prefix given to tf.train.Checkpoint);
``/`` in variable names becomes ``_`` as in the seed's tool, and the type field says what the
values are (0 float32, 1 float16; the seed's tool always wrote 0).

    trtsamples dump-tf-wts --keras model.keras --out lenet.wts
    trtsamples dump-tf-wts --checkpoint ckpt/model-1 --version 2 --out lenet.wts2
    trtsamples dump-tf-wts --keras model.keras --list

Exit status 2 on bad input, with the reason.
"""

import argparse
import sys

from workflow.errors import PipelineError
from workflow.formats.wts import wts_bytes
from workflow.io import write_atomically
from workflow.models.keras import import_tensorflow
from workflow.models.weights import blobs_from_keras, blobs_from_tf_checkpoint


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    """Run the tool on ``argv`` (default: the command line) under the name ``prog``
    (default: the program's file name); return its exit status."""
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--keras", help="a Keras model file (.keras)")
    source.add_argument("--checkpoint", help="a TF2 checkpoint prefix")
    parser.add_argument("--version", type=int, choices=[1, 2], default=1, help="default: 1")
    parser.add_argument("--out", help="output file (.wts or .wts2)")
    parser.add_argument("--list", action="store_true", help="print names, types and shapes only")
    args = parser.parse_args(argv)
    if not args.list and not args.out:
        parser.error("--out is required unless --list is given")
    try:
        if args.keras:
            blobs = blobs_from_keras(import_tensorflow().keras.models.load_model(args.keras))
        else:
            import_tensorflow()
            blobs = blobs_from_tf_checkpoint(args.checkpoint)
        if not blobs:
            raise PipelineError(args.keras or args.checkpoint, "holds no float weights")
    except (PipelineError, OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for name, array in blobs.items():
        print(f"{name} {0 if array.dtype.itemsize == 4 else 1} {tuple(array.shape)}")
    if not args.list:
        write_atomically(args.out, wts_bytes(blobs, version=args.version))
        print(f"{len(blobs)} blobs written to {args.out}")
    return 0
