"""python -m harness.sandbox probe | init --spec JSON -- CMD (the grader's own use)."""
import sys

from . import main

sys.exit(main())
