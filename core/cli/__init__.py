"""The command line (`python -m core`) and the README options table generated from the options.

A front end like the others: may import anything in `core`, never gradio or runpod.
"""

from core.cli.transcribe import main

__all__ = ["main"]
