"""`python -m billport_cli`, the same as the `billport` script."""

import sys

from billport_cli.main import main

sys.exit(main())
