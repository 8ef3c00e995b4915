"""DrawnConvos: the synthetic dialogue set IRPEM is trained and measured on.

``generate(registry, out, n, seed)`` writes ``sft.jsonl``, ``rlhf.jsonl``, ``test.jsonl``
(format: ``eval.dialogues``) and ``stats.json``. Phrasings per intent live in
``templates.TEMPLATES``; word lists and the held-out TEST share in ``vocab``.
"""

from training.drawnconvos.generator import generate

__all__ = ["generate"]
