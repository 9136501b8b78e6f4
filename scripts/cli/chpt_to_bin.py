"""`trtsamples chpt-to-bin` as a script: the tool is workflow/tools/chpt_to_bin.py."""

import sys

from workflow.tools.chpt_to_bin import main

if __name__ == "__main__":
    sys.exit(main())
