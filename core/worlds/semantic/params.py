"""The parameters of a semantic world, with their help texts and valid ranges."""

from __future__ import annotations

from dataclasses import dataclass

from core.worlds.base import param
from core.worlds.semantic.taxonomy import SKELETON_ROWS


@dataclass
class SemanticParams:
    n_categories: int = param(24, "categories kept from the real-world skeleton (two roots, "
                              "animal and object, and their descendants)",
                              min=6, max=len(SKELETON_ROWS))
    min_properties: int = param(1, "fewest properties of a category's own", min=1, max=6)
    max_properties: int = param(6, "most properties of a category's own", min=1, max=6)
    n_verbs: int = param(3, "relation verbs", min=1, max=20)
    n_relations: int = param(12, "relations between categories (inherited by the subject's "
                             "descendants)", min=0, max=500)
    n_holdout: int = param(3, "held-out categories: only their parent fact is trained",
                           min=1, max=40)
    n_documents: int = param(80, "training documents (one article per category, then variants)",
                             min=10, max=50000)
    qa_fraction: float = param(0.2, "fraction of variant documents that are Q&A pairs", min=0.0,
                               max=1.0)
    items_per_split: int = param(40, "items per split for rephrase, reversal and syllogism "
                                 "(0: all); category_holdout tests every inference", min=0,
                                 max=10000)
