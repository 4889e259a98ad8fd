"""The RunPod side of the worker: the request fields of both peers' clients (`inputs`), the response keys they
read (`outputs`), ordered progress (`progress`) and speaker naming from reference samples (`speakers`).
`rp_handler.py` is the entry point that ties them to `core`."""
