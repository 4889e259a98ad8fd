"""RunPod's Hub asks for a handler.py beside its Dockerfile. The worker's entry is the repository's `rp_handler.py`
(the image runs `python app.py` with `APP_MODE=runpod`, which starts it); this file runs the same, for a checkout:
`python .runpod/handler.py --test_input '{"input": {...}}'`."""

import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
runpy.run_module("rp_handler", run_name="__main__")
