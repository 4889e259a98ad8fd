"""The Gradio front end: `ui.server` serves the page and the `/transcribe` API on `core`'s engine.

Importing this package loads neither Gradio nor a model; `ui.render`, `ui.cards`, `ui.batch` and `ui.controls`
are Gradio-free (the view's behaviour is `ui/view.js`, its style `ui/view.css`).
"""
