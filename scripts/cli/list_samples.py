"""`trtsamples samples` as a script: the tool is workflow/tools/list_samples.py."""

import sys

from workflow.tools.list_samples import main

if __name__ == "__main__":
    sys.exit(main())
