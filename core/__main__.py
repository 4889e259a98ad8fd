import sys

from core.cli.transcribe import main

sys.exit(main())
