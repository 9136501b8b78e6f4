"""`trtsamples config-manual` as a script: the tool is workflow/tools/config_manual.py."""

import sys

from workflow.tools.config_manual import main

if __name__ == "__main__":
    sys.exit(main())
