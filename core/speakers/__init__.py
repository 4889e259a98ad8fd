"""Who spoke when: pyannote diarization, the segmentation pass it shares with the VAD, voice embeddings, speaker
verification, the voice library (people recognised by name across recordings) and labelling words with speakers.

May import `core.errors`, `core.media`, `core.asr` and `core.transcript`; never the engine, the service or a front end.
"""
