"""Rule profile_chart: a sample's slowest layers per precision in one chart."""

import json
from pathlib import Path

from workflow.io import write_atomically
from workflow.logs import log_to
from workflow.report.profile import plot_profiles

log_to(snakemake.log[0])
loaded = [json.loads(Path(path).read_text()) for path in snakemake.input.profiles]
tables = {table["precision"]: table for table in loaded}
title = f"{snakemake.wildcards.model}: slowest layers ({loaded[0]['runner']})"
write_atomically(
    snakemake.output.chart, plot_profiles(tables, top=snakemake.params.top, title=title)
)
