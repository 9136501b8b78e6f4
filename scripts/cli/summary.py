"""`trtsamples summary` as a script: the tool is workflow/tools/summary.py."""

import sys

from workflow.tools.summary import main

if __name__ == "__main__":
    sys.exit(main())
