"""`trtsamples translate` as a script: the tool is workflow/tools/translate.py."""

import sys

from workflow.tools.translate import main

if __name__ == "__main__":
    sys.exit(main())
