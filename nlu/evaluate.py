"""Measure the NLU on the held-out questions (tests/data/nlu_heldout.yml) through a real Rasa server.

Prints per-intent precision, recall and F1, the most frequent confusions and the headline figures
(service accuracy, out-of-scope recall), and draws the confusion matrix as a PNG.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from nlu import service_for_intent

_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    stadtteile: tuple[str, ...] = ()


def load_examples(path: Path) -> list[Example]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    examples = []
    for block in data.get("nlu", []):
        if "intent" not in block:
            continue
        for line in block["examples"].splitlines():
            line = line.strip()
            if not line.startswith("- "):
                continue
            raw = line[2:].strip()
            stadtteile = tuple(m.group(1) for m in _ANNOTATION.finditer(raw) if "stadtteil" in m.group(0))
            examples.append(Example(_ANNOTATION.sub(r"\1", raw), block["intent"], stadtteile))
    return examples


@dataclass
class Report:
    gold: list[str] = field(default_factory=list)
    predicted: list[str] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)

    def add(self, gold: str, predicted: str, confidence: float) -> None:
        self.gold.append(gold)
        self.predicted.append(predicted)
        self.confidences.append(confidence)

    @property
    def labels(self) -> list[str]:
        return sorted(set(self.gold) | set(self.predicted))

    def per_intent(self) -> dict[str, dict[str, float]]:
        result = {}
        pairs = list(zip(self.gold, self.predicted, strict=True))
        for label in self.labels:
            tp = sum(1 for g, p in pairs if g == label and p == label)
            fp = sum(1 for g, p in pairs if g != label and p == label)
            fn = sum(1 for g, p in pairs if g == label and p != label)
            precision = tp / (tp + fp) if tp + fp else 0.0
            recall = tp / (tp + fn) if tp + fn else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            result[label] = {"precision": precision, "recall": recall, "f1": f1, "support": float(tp + fn)}
        return result

    def confusions(self, top: int = 15) -> list[tuple[str, str, int]]:
        counts = Counter((g, p) for g, p in zip(self.gold, self.predicted, strict=True) if g != p)
        return [(g, p, n) for (g, p), n in counts.most_common(top)]

    def summary(self, threshold: float) -> dict[str, float]:
        pairs = list(zip(self.gold, self.predicted, self.confidences, strict=True))
        services = [(g, p) for g, p, _ in pairs if service_for_intent(g)]
        oos = [(p, c) for g, p, c in pairs if g == "out_of_scope"]
        per_intent = self.per_intent()
        return {
            "examples": float(len(pairs)),
            "accuracy": sum(g == p for g, p, _ in pairs) / max(len(pairs), 1),
            "service_accuracy": sum(g == p for g, p in services) / max(len(services), 1),
            "out_of_scope_recall": sum(p == "out_of_scope" for p, _ in oos) / max(len(oos), 1),
            # what a citizen experiences: an out-of-scope question not forced onto a service
            "out_of_scope_not_forced": sum((not service_for_intent(p)) or c < threshold for p, c in oos)
            / max(len(oos), 1),
            "macro_f1": sum(v["f1"] for v in per_intent.values()) / max(len(per_intent), 1),
        }

    def format_table(self) -> str:
        lines = [f"{'intent':34} {'prec':>6} {'rec':>6} {'f1':>6} {'n':>4}"]
        for label, m in self.per_intent().items():
            lines.append(
                f"{label:34} {m['precision']:6.2f} {m['recall']:6.2f} {m['f1']:6.2f} {int(m['support']):4d}"
            )
        return "\n".join(lines)


def draw_confusion(report: Report, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels = report.labels
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=int)
    for gold, predicted in zip(report.gold, report.predicted, strict=True):
        matrix[index[gold], index[predicted]] += 1
    size = max(8, len(labels) * 0.28)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(np.log1p(matrix), cmap="Blues")
    short = [label.removeprefix("service_") for label in labels]
    ax.set_xticks(range(len(labels)), short, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), short, fontsize=7)
    for (row, col), value in np.ndenumerate(matrix):
        if value:
            ax.text(
                col,
                row,
                str(value),
                ha="center",
                va="center",
                fontsize=6,
                color="white" if row == col else "#b00020",
            )
    ax.set_xlabel("vorhergesagt (predicted)")
    ax.set_ylabel("richtig (gold)")
    ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
