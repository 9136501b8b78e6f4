"""Rule train_nmt: the TensorFlow translator trained on the training pairs, saved as a
checkpoint (translate.ckpt.index and its data file)."""

from pathlib import Path

from workflow.data.translation import EOS, SOS, encode, read_parallel, read_vocab
from workflow.logs import log_to
from workflow.models.nmt import train_nmt

log_to(snakemake.log[0])
params = snakemake.params
source, target = params.langs
folder = Path(snakemake.input.data)
src_vocab, tgt_vocab = (read_vocab(folder / f"vocab.{lang}") for lang in (source, target))
src, tgt = read_parallel(folder, "train", source=source, target=target)
cfg = params.train
model = train_nmt(
    encode(src, src_vocab),
    encode(tgt, tgt_vocab),
    source_vocab=len(src_vocab),
    target_vocab=len(tgt_vocab),
    sos=tgt_vocab.index(SOS),
    eos=tgt_vocab.index(EOS),
    **{
        k: cfg[k]
        for k in (
            "units",
            "forget_bias",
            "epochs",
            "batch_size",
            "learning_rate",
            "seed",
            "threads",
        )
    },
)
model.checkpoint().write(snakemake.output.index.removesuffix(".index"))
