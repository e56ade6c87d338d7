import sys

from syncsched.cli import main

sys.exit(main())
