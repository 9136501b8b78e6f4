"""``python -m workflow.tools``: the ``trtsamples`` command."""

import sys

from workflow.tools import main

sys.exit(main())
