"""`trtsamples prepare-batches` as a script: the tool is workflow/tools/prepare_batches.py."""

import sys

from workflow.tools.prepare_batches import main

if __name__ == "__main__":
    sys.exit(main())
