"""`trtsamples dump-tf-wts` as a script: the tool is workflow/tools/dump_tf_wts.py."""

import sys

from workflow.tools.dump_tf_wts import main

if __name__ == "__main__":
    sys.exit(main())
