"""The Gradio front end: `ui.server` serves the page and the `/transcribe` API on `core`'s engine.

Importing this package loads neither Gradio nor a model; `ui.render`, `ui.cards`, `ui.batch` and `ui.controls`
are Gradio-free (the view's behaviour is `ui/view.js`, its style `ui/view.css`); `ui.editor` holds the transcript
corrections, undo/redo and the `/realign` API (its page script `ui/editor.js`); `ui.errors` how refusals reach
the user, for every event.
Gradio's usage telemetry is off unless the operator turns it on: a self-hosted, possibly air-gapped server
must not call out by default (it is read when Gradio is first imported, so it is set here, before that).
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
