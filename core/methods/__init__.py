"""How a model is exposed to a world. The names live here, apart from the heavy modules, so
that light code (the job queue's worker) can use them without importing torch."""

METHODS = ("pretrained", "icl", "ft", "ft_local", "ft_global", "ft_local_global")
