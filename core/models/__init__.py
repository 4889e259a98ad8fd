"""Models on disk and in memory: the models-directory layout, the registry that loads each model once, memory release.

May import `core.settings`, `core.errors` and the lower packages; never the engine, the service or a front end.
"""
