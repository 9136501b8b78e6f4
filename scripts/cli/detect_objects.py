"""`trtsamples detect` as a script: the tool is workflow/tools/detect_objects.py."""

import sys

from workflow.tools.detect_objects import main

if __name__ == "__main__":
    sys.exit(main())
