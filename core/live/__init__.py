"""Live transcription: audio in while people speak, text and speakers out as they talk (the engine side of the
OpenAI Realtime transcription sessions that `openai_api/realtime.py` serves).

Modules, following the data: `audio` (the protocol's PCM/G.711 chunks → 16 kHz samples), `vad` (Silero speech
probability every 32 ms), `turns` (server VAD: when a turn starts and stops), `decoder` (partial drafts and final
decodes on the registry's loaded model), `agreement` (which draft words are safe to show), `speakers`
(incremental speaker labels, names from the voice library), `events` (what a session emits), `session` (one
session's state), `engine` (what sessions share and the decoding worker), `priority` (live first, batch never
starved).

May import the rest of `core`; never a front end. Importing it loads no model.
"""
