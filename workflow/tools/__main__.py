"""``python -m workflow.tools``: the ``trtsamples`` command."""

import sys

from workflow.tools import main

if __name__ == "__main__":
    sys.exit(main())
