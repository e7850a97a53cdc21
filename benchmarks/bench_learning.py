"""Out-of-fold and held-out accuracy of the pre-labeler on the shared datasets' gold labels.

For each dataset, a random share (20%, 50%) of the gold-labeled items trains a
:class:`aggregation.learning.PreLabeler`; its out-of-fold accuracy (what it reports about itself) is
compared with its accuracy on the other items (what it really does), and the model's vote alone
(class prior of the training labels × the vote's likelihood) is checked against a 0.95 target.
Prints a markdown table (means over ``--seeds`` random splits).

    python benchmarks/bench_learning.py [--seeds 3] [--classifiers logreg,nb,hgb]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aggregation.learning import FeatureSpec, PreLabeler, combine  # noqa: E402
from simulator.data import load_dataset  # noqa: E402

DATA = ROOT / "benchmarks" / "data"
SPECS = {
    "rte": FeatureSpec(text=["text", "hypothesis"]),
    "product": FeatureSpec(text=["record_a", "record_b"], numeric=["price_a", "price_b"]),
    "sentiment_polarity": FeatureSpec(text=["text"]),
    "music_genre": FeatureSpec(numeric=[f"feature{i}" for i in range(124)]),
}
#: Which classifiers make sense where (nb needs text; hgb is for numeric features).
FITS = {
    "logreg": ("rte", "product", "sentiment_polarity", "music_genre"),
    "nb": ("rte", "product", "sentiment_polarity"),
    "hgb": ("product", "music_genre"),
}
TARGET = 0.95


def load(name: str) -> tuple[list[dict[str, str]], np.ndarray]:
    return load_dataset(DATA / name).gold_items()


def run(name: str, classifier: str, share: float, seed: int) -> dict[str, float]:
    payloads, labels = load(name)
    order = sorted(set(labels.tolist()))
    idx = np.random.default_rng(seed).permutation(len(payloads))
    n = int(share * len(payloads))
    train, test = idx[:n], idx[n:]
    model = PreLabeler(SPECS[name], classifier=classifier, random_state=seed).fit(
        [payloads[i] for i in train], labels[train], label_order=order
    )
    test_payloads = [payloads[i] for i in test]
    truth = labels[test]
    pred = model.predict(test_payloads)
    prior = np.array([np.mean(labels[train] == c) for c in order])
    voters, answers = model.vote(test_payloads)
    alone = combine(np.tile(prior, (len(test), 1)), model.voter_confusion_, voters, answers)
    sure = alone.max(axis=1) >= TARGET
    decided = model.classes_[alone.argmax(axis=1)]
    return {
        "n": n,
        "oof": model.cv_accuracy_,
        "heldout": float(np.mean(pred == truth)),
        "chance": model.chance_rate_,
        "useful": float(model.is_useful_),
        "auto": float(sure.mean()),
        "auto_acc": float(np.mean(decided[sure] == truth[sure])) if sure.any() else np.nan,
        "seconds": model.training_seconds_,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--classifiers", default="logreg,nb,hgb")
    args = parser.parse_args()
    start = time.perf_counter()
    print(
        "| dataset | classifier | trained on | n | out-of-fold acc. | held-out acc. | chance | "
        f"useful | vote alone ≥ {TARGET} (share of rest) | its accuracy | fit (s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in SPECS:
        for classifier in args.classifiers.split(","):
            if name not in FITS[classifier]:
                continue
            for share in (0.2, 0.5):
                rows = [run(name, classifier, share, seed) for seed in range(args.seeds)]
                m = {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}
                accs = [r["auto_acc"] for r in rows if not np.isnan(r["auto_acc"])]
                m["auto_acc"] = float(np.mean(accs)) if accs else np.nan
                sd = float(np.std([r["oof"] for r in rows]))
                hsd = float(np.std([r["heldout"] for r in rows]))
                useful = sum(int(r["useful"]) for r in rows)
                auto_acc = "–" if np.isnan(m["auto_acc"]) else f"{100 * m['auto_acc']:.1f}"
                print(
                    f"| {name} | {classifier} | {share:.0%} | {int(m['n'])} | "
                    f"{100 * m['oof']:.1f} ± {100 * sd:.1f} | {100 * m['heldout']:.1f} ± {100 * hsd:.1f} | "
                    f"{100 * m['chance']:.1f} | {useful}/{len(rows)} | {100 * m['auto']:.1f}% | "
                    f"{auto_acc} | {m['seconds']:.1f} |",
                    flush=True,
                )
    print(f"\n{args.seeds} random splits per row; whole run {time.perf_counter() - start:.0f} s.")


if __name__ == "__main__":
    main()
