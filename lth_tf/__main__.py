"""`python -m lth_tf ARGS` runs `lth-tf ARGS`."""

import sys

from lth_tf.frontends.cli.main import main

sys.exit(main())
