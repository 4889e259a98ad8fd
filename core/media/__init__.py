"""Media in: fetching a request's audio safely (path, URL, data: URI, base64) and decoding it to 16 kHz mono.

May import `core.errors` only; never the speech, speaker or model packages, the engine or a front end.
"""
