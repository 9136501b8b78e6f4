"""Rule data_text: the character model's text (CPython's pydoc topics, or your file) split into
train.txt and test.txt, with its vocabulary."""

import logging
from pathlib import Path

from workflow.data.text import embedded_text, write_corpus
from workflow.errors import DataError
from workflow.logs import log_to

log_to(snakemake.log[0])
params = snakemake.params
if params.source == "file":
    path = Path(snakemake.input.file)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(path, f"not a UTF-8 text file ({err})") from err
else:
    text = embedded_text()
sizes = write_corpus(snakemake.output.data, text, test_fraction=params.test_fraction)
logging.getLogger("data_text").info("%s | %s", params.source, sizes)
