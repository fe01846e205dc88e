import sys

from merkit.cli import main

sys.exit(main())
