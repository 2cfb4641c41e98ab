"""The seed tutorial's inference, as a script a user would run on a file of reviews (the baseline of
``bench_inference.py --whole-job``):

    python benchmarks/tutorial_predict.py BASE_DIR ADAPTER_DIR INPUT.csv OUTPUT.csv [TEXT_COLUMN]

Base model plus the unmerged ``PeftModel``, one text at a time through
``tokenizer(text, return_tensors="pt", truncation=True, max_length=512)`` under ``torch.no_grad()``,
the label and its probability written beside every row. Nothing of ``sentiment_app`` is used.
"""

import sys

import pandas as pd
import torch
from peft import PeftModel
from transformers import AutoModelForSequenceClassification, AutoTokenizer

LABELS = ["负面", "正面"]


def main() -> int:
    base, adapter, source, target = sys.argv[1:5]
    column = sys.argv[5] if len(sys.argv) > 5 else "review"
    tokenizer = AutoTokenizer.from_pretrained(adapter)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=len(LABELS))
    model = PeftModel.from_pretrained(model, adapter).eval()
    frame = pd.read_csv(source)
    labels, scores = [], []
    for text in frame[column]:
        with torch.no_grad():
            inputs = tokenizer(str(text), return_tensors="pt", truncation=True, max_length=512)
            probabilities = torch.softmax(model(**inputs).logits[0], dim=-1)
        labels.append(LABELS[int(probabilities.argmax())])
        scores.append(float(probabilities.max()))
    frame["sentiment"], frame["confidence"] = labels, scores
    frame.to_csv(target, index=False, encoding="utf-8-sig")
    return 0


if __name__ == "__main__":
    sys.exit(main())
