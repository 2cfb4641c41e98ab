"""Masked-language-model pre-training of a scratch BERT's encoder on the training texts (``--mlm-epochs``).

A model trained from scratch on labels alone learns only what separates 正面 from 负面 in the rows it
sees; pre-training first on every training text (BERT's recipe: 15 % of the tokens are chosen, 80 % of
those become [MASK], 10 % a random token, 10 % stay) teaches the encoder how reviews are written, which
words go together and what negation does, from the same ~55k texts and no others. The labels are not
used here. The masked-LM head shares the classifier's encoder (and ties its output to the input
embeddings), so pre-training updates the classifier's weights in place; the head is then dropped.

The vocabulary projection is applied to the masked positions only (about 15 % of the tokens): with a
20k vocabulary, projecting every position would cost several times the 2-layer encoder itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

MLM_PROBABILITY = 0.15  # BERT's share of tokens to predict
# Reviews are cut to this many tokens for pre-training only: most multidomain reviews are shorter, and the
# long ChnSentiCorp reviews cost the most per step. Fine-tuning still reads max_length tokens.
MLM_MAX_LENGTH = 96
MLM_BATCH_SIZE = 64  # no labels to balance; a larger batch steadies the masked-token loss
MLM_LEARNING_RATE = 1e-3  # from-scratch pre-training of a small BERT tolerates (and needs) a high rate
MLM_WARMUP_RATIO = 0.06


class MaskedLM(torch.nn.Module):
    """``classifier.bert`` with BERT's masked-LM head on top (output tied to the input embeddings)."""

    def __init__(self, classifier: torch.nn.Module) -> None:
        from transformers.models.bert.modeling_bert import BertOnlyMLMHead

        super().__init__()
        self.bert = classifier.bert
        self.head = BertOnlyMLMHead(classifier.config)
        self.head.apply(classifier._init_weights)
        self.head.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None) -> dict[str, Any]:
        hidden = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        chosen = labels != -100
        logits = self.head(hidden[chosen])
        return {"loss": torch.nn.functional.cross_entropy(logits.float(), labels[chosen])}


def pretrain_mlm(
    classifier: torch.nn.Module, tokenizer: Any, texts: Sequence[str], config: Any, work_dir: Path
) -> dict[str, float]:
    """Pre-train ``classifier``'s encoder in place for ``config.mlm_epochs`` epochs (Trainer scratch files in
    ``work_dir``); return the loss, the steps and the Trainer's metrics."""
    import datasets
    from transformers import DataCollatorForLanguageModeling, TrainingArguments

    from training.modeling import mixed_precision
    from training.sampling import length_grouped_trainer_class

    encoded = datasets.Dataset.from_dict({"text": list(texts)}).map(
        lambda batch: tokenizer(batch["text"], truncation=True, max_length=min(MLM_MAX_LENGTH, config.max_length)),
        batched=True,
        remove_columns=["text"],
        desc="tokenizing for pre-training",
    )
    precision = mixed_precision()
    args = TrainingArguments(
        output_dir=str(work_dir),
        num_train_epochs=config.mlm_epochs,
        max_steps=config.max_steps or -1,
        per_device_train_batch_size=MLM_BATCH_SIZE,
        learning_rate=MLM_LEARNING_RATE,
        weight_decay=config.weight_decay,
        adam_beta2=config.adam_beta2,
        adam_epsilon=config.adam_epsilon,
        warmup_steps=MLM_WARMUP_RATIO,
        lr_scheduler_type="linear",
        save_strategy="no",
        eval_strategy="no",
        logging_steps=config.logging_steps,
        label_names=["labels"],
        report_to="none",
        seed=config.seed,
        data_seed=config.seed,
        dataloader_pin_memory=any(precision.values()),
        **precision,
    )
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=MLM_PROBABILITY)
    model = MaskedLM(classifier)
    trainer = length_grouped_trainer_class()(
        model=model, args=args, train_dataset=encoded, data_collator=collator, processing_class=tokenizer
    )
    print(
        f"masked-LM pre-training: {len(encoded):,} texts, {config.mlm_epochs:g} epoch(s), "
        f"batch {MLM_BATCH_SIZE}, lr {MLM_LEARNING_RATE:g}"
    )
    output = trainer.train()
    classifier.train()
    return {"loss": output.training_loss, "steps": trainer.state.global_step, **output.metrics}
