"""Training side of the project: fine-tune a Chinese encoder (LoRA or full), evaluate, write the
artifact folder of :mod:`sentiment_app.model.artifact`, and push it to the Hub.

Entry point: ``python training/train_and_push.py`` or ``python -m training.train_and_push``.
Nothing in ``sentiment_app`` imports this package; this package imports ``sentiment_app`` for what
both sides share: the artifact contract and label maps (``artifact``), folder-or-repo-id rules (``sources``).
"""
