"""The result of a job as plain data (segments, words, speakers, overlapped speech), corrections to it, and its
renderings (TXT, SRT, VTT, TSV, RTTM, JSON).

May import `core.errors`, `core.asr`'s pure helpers and `core.models.memory` (the `debug` output's figures); never
the engine, the service or a front end.
"""
