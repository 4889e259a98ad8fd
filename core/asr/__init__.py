"""Speech to text: Whisper decoding with its timestamps and word timing, translation, language detection and names.

May import `core.errors`, `core.media` and `core.transcript`; never the engine, the service or a front end.
"""
