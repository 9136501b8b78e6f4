"""`trtsamples verify-engines` as a script: the tool is workflow/tools/verify_engines.py."""

import sys

from workflow.tools.verify_engines import main

if __name__ == "__main__":
    sys.exit(main())
