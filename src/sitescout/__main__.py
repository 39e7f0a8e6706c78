import sys

from sitescout.cli import main

sys.exit(main())
