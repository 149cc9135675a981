import sys

from unlearnkit.cli.main import main

sys.exit(main())
