"""`trtsamples verify-plugins` as a script: the tool is workflow/tools/verify_plugins.py."""

import sys

from workflow.tools.verify_plugins import main

if __name__ == "__main__":
    sys.exit(main())
