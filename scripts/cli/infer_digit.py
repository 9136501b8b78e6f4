"""`trtsamples infer-digit` as a script: the tool is workflow/tools/infer_digit.py."""

import sys

from workflow.tools.infer_digit import main

if __name__ == "__main__":
    sys.exit(main())
