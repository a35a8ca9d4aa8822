"""How a model is exposed to a world: every method declared once, here, and read everywhere
else (the runner, the job queue's phases, the what-if model, the study, the pages).

Kept free of heavy imports so that light code (the job queue's worker, the pages) can read it
without importing torch. Adding a method is one `register(Method(...))` here and its
implementation where its kind of work is done (`core/running/runner.py`, `execute`).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import LabError


@dataclass(frozen=True)
class Method:
    name: str
    summary: str  # one line for pickers and help texts
    trains: bool = False  # fine-tunes the model's weights on the training documents
    scopes: tuple[str, ...] = ()  # augmentation scopes added to the training data
    reads_context: bool = False  # every query carries the training set in its prompt (ICL)

    @property
    def phases(self) -> tuple[str, ...]:
        """What a run of this method goes through, in order."""
        return (("augment",) if self.scopes else ()) + (("train",) if self.trains else ()) + (
            "evaluate",)


REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    if method.name in REGISTRY:
        raise ValueError(f"method '{method.name}' is declared twice")
    REGISTRY[method.name] = method
    return method


register(Method("pretrained", "nothing: the contamination check, it must sit at chance"))
register(Method("icl", "the training documents in the prompt", reads_context=True))
register(Method("ft", "fine-tuning on the documents", trains=True))
register(Method("ft_local", "fine-tuning on documents plus rephrasings and reversals of each "
                "sentence", trains=True, scopes=("local",)))
register(Method("ft_global", "fine-tuning on documents plus inferences linking each document to "
                "the whole training set", trains=True, scopes=("global",)))
register(Method("ft_local_global", "fine-tuning with both kinds of augmentation", trains=True,
                scopes=("local", "global")))

METHODS = tuple(REGISTRY)
FINE_TUNING = tuple(name for name, m in REGISTRY.items() if m.trains)


def get_method(name: str) -> Method:
    try:
        return REGISTRY[name]
    except KeyError:
        raise LabError(f"unknown method '{name}'; choose from {', '.join(METHODS)}") from None
