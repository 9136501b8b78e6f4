"""`trtsamples serve` as a script: the tool is workflow/tools/serve_recommender.py."""

import sys

from workflow.tools.serve_recommender import main

if __name__ == "__main__":
    sys.exit(main())
