"""The pre-labeler (aggregation/learning.py): features, honest confusion, do no harm, the vote.

No database. Real-data checks use the shared datasets' gold labels (benchmarks/data/).
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregation import posterior
from aggregation.learning import (
    FeatureSpec,
    PayloadVectorizer,
    PreLabeler,
    combine,
    parse_number,
    wilson_lower,
)
from simulator.data import load_dataset

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "benchmarks" / "data"
GOOD = ["good", "great", "fine", "lovely", "superb", "nice"]
BAD = ["bad", "awful", "poor", "dreadful", "boring", "weak"]
FILLER = ["the", "film", "plot", "cast", "story", "ending", "music", "scene", "was", "very"]


def reviews(n: int, seed: int = 0, noise: float = 0.0) -> tuple[list[dict], np.ndarray]:
    """Short texts whose sentiment word decides the label (flipped with probability ``noise``)."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(["neg", "pos"], size=n)
    payloads = []
    for label in labels:
        words = list(rng.choice(FILLER, size=5)) + [
            str(rng.choice(GOOD if label == "pos" else BAD))
        ]
        rng.shuffle(words)
        payloads.append({"text": " ".join(words)})
    flip = rng.random(n) < noise
    labels = np.where(flip, np.where(labels == "pos", "neg", "pos"), labels)
    return payloads, labels.astype(object)


def load(name: str) -> tuple[list[dict[str, str]], np.ndarray]:
    return load_dataset(DATA / name).gold_items()


# -- isolation ---------------------------------------------------------------------------------


def test_import_aggregation_learning_loads_no_django_module():
    code = (
        "import sys, aggregation.learning\n"
        "bad = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == ""


def test_learning_source_does_not_import_django():
    text = (ROOT / "aggregation" / "learning.py").read_text()
    assert "import django" not in text and "from django" not in text


# -- features ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("$179.00", 179.0),
        ("1,234.5", 1234.5),
        (" 42 ", 42.0),
        ("12%", 12.0),
        (7, 7.0),
        (2.5, 2.5),
        ("-3e2", -300.0),
    ],
)
def test_parse_number_reads_numbers_written_in_a_csv(value, expected):
    assert parse_number(value) == expected


@pytest.mark.parametrize("value", ["", "   ", None, "n/a", "abc", True, float("nan"), "inf"])
def test_parse_number_treats_blank_and_junk_as_missing(value):
    assert math.isnan(parse_number(value))


@given(st.one_of(st.text(), st.floats(), st.integers(), st.none()))
def test_parse_number_never_raises(value):
    x = parse_number(value)
    assert math.isnan(x) or math.isfinite(x)


def test_feature_spec_rejects_a_string_and_an_empty_spec():
    with pytest.raises(TypeError):
        FeatureSpec(text="text")
    with pytest.raises(ValueError, match="at least one"):
        FeatureSpec()
    with pytest.raises(ValueError, match="both"):
        FeatureSpec(text=["a"], numeric=["a"])


def test_numeric_features_are_imputed_and_standardized_with_a_missing_indicator():
    payloads = [{"x": "1"}, {"x": "$3.00"}, {"x": ""}, {"x": None}, {}, {"x": "5"}]
    vec = PayloadVectorizer(FeatureSpec(numeric=["x"])).fit(payloads)
    x = vec.transform(payloads).toarray()
    assert x.shape == (6, 2)  # the value and its missing indicator
    assert np.allclose(x.mean(axis=0), 0) and np.allclose(x.std(axis=0), 1)
    # Missing values take the median (3) of 1, 3, 5: the value column of row 1 equals row 2's.
    assert x[2, 0] == pytest.approx(x[1, 0])
    assert (x[:, 1] > 0).tolist() == [False, False, True, True, True, False]


def test_mixed_features_stack_text_pair_similarity_and_numbers():
    payloads = [
        {"a": "red apple", "b": "red apple", "price": "1.0"},
        {"a": "green pear", "b": "blue car", "price": ""},
        {"a": "yellow banana", "b": "yellow banana split", "price": "3"},
    ]
    spec = FeatureSpec(text=["a", "b"], numeric=["price"])
    vec = PayloadVectorizer(spec).fit(payloads)
    x = vec.transform(payloads).toarray()
    n_vocab = sum(len(v.vocabulary_) for v in vec.vectorizers_)
    assert x.shape == (3, 2 * n_vocab + 2 + 2)  # two fields, word+char cosines, value+indicator
    word_cos = x[:, 2 * n_vocab]
    assert word_cos[0] == pytest.approx(1.0) and word_cos[1] == pytest.approx(0.0)
    assert 0 < word_cos[2] < 1


# -- fitting on synthetic data -----------------------------------------------------------------


def test_text_model_learns_sentiment_words_and_is_useful():
    payloads, labels = reviews(300, noise=0.05)
    model = PreLabeler(FeatureSpec(text=["text"])).fit(payloads, labels, label_order=["neg", "pos"])
    assert model.is_useful_ and model.cv_accuracy_ > 0.85
    assert model.confusion_.shape == (2, 2)
    assert np.allclose(model.confusion_.sum(axis=1), 1)
    assert np.all(model.confusion_ > 0)
    assert model.predict([{"text": "the plot was superb"}, {"text": "an awful film"}]).tolist() == [
        "pos",
        "neg",
    ]
    proba = model.predict_proba(payloads[:5])
    assert proba.shape == (5, 2) and np.allclose(proba.sum(axis=1), 1)
    assert model.n_train_ == 300 and model.training_seconds_ > 0
    assert model.classes_.tolist() == ["neg", "pos"]


def test_numeric_model_with_strings_and_blanks_learns_the_threshold():
    rng = np.random.default_rng(1)
    x = rng.normal(size=200)
    labels = np.where(x > 0, "high", "low").astype(object)
    payloads = [
        {"v": "" if i % 10 == 0 else f"${v:,.3f}", "noise": str(rng.normal())}
        for i, v in enumerate(x)
    ]
    model = PreLabeler(FeatureSpec(numeric=["v", "noise"])).fit(payloads, labels)
    assert model.is_useful_ and model.cv_accuracy_ > 0.8
    assert model.predict([{"v": "5"}, {"v": "-5", "noise": None}]).tolist() == ["high", "low"]


def test_mixed_model_uses_both_text_and_numbers():
    """Label = sentiment word for half the items, price sign for the other half (no words)."""
    text_payloads, text_labels = reviews(150, seed=2)
    rng = np.random.default_rng(3)
    prices = rng.normal(size=150)
    num_payloads = [{"text": "", "price": f"{p:.2f}"} for p in prices]
    num_labels = np.where(prices > 0, "pos", "neg").astype(object)
    payloads = [{**p, "price": ""} for p in text_payloads] + num_payloads
    labels = np.concatenate([text_labels, num_labels])
    spec = FeatureSpec(text=["text"], numeric=["price"])
    model = PreLabeler(spec).fit(payloads, labels, label_order=["neg", "pos"])
    assert model.is_useful_ and model.cv_accuracy_ > 0.85
    text_only = PreLabeler(FeatureSpec(text=["text"])).fit(payloads, labels)
    assert model.cv_accuracy_ > text_only.cv_accuracy_ + 0.2


def test_weights_decide_between_conflicting_labels():
    """Every item appears twice with opposite labels; the heavier copy wins."""
    payloads, labels = reviews(100, seed=4)
    flipped = np.where(labels == "pos", "neg", "pos").astype(object)
    both = payloads + payloads
    y = np.concatenate([labels, flipped])
    trust_first = np.r_[np.full(100, 0.9), np.full(100, 0.1)]
    spec = FeatureSpec(text=["text"])
    first = PreLabeler(spec).fit(both, y, trust_first, ["neg", "pos"])
    second = PreLabeler(spec).fit(both, y, trust_first[::-1], ["neg", "pos"])
    assert np.mean(first.predict(payloads) == labels) > 0.95
    assert np.mean(second.predict(payloads) == flipped) > 0.95


def test_zero_weight_items_do_not_count():
    payloads, labels = reviews(120, seed=5)
    junk = np.where(np.arange(120) % 2 == 0, "pos", "neg").astype(object)
    spec = FeatureSpec(text=["text"])
    model = PreLabeler(spec).fit(
        payloads + payloads, np.concatenate([labels, junk]), np.r_[np.ones(120), np.zeros(120)]
    )
    assert model.cv_accuracy_ > 0.95  # the junk labels neither train nor score
    assert model.n_effective_ == pytest.approx(120)


def test_a_label_without_examples_keeps_a_neutral_row_and_a_zero_column():
    payloads, labels = reviews(100, seed=6)
    model = PreLabeler(FeatureSpec(text=["text"])).fit(
        payloads, labels, label_order=["neg", "meh", "pos"]
    )
    assert model.confusion_.shape == (3, 3)
    assert model.voter_confusion_.shape[1:] == (3, 3)
    assert np.allclose(model.confusion_.sum(axis=1), 1)
    assert np.all(model.predict_proba(payloads)[:, 1] == 0)
    # The "meh" row is the neutral row: it is the class-independent share of each answer.
    neutral = model.voter_confusion_[:, 1, :]
    assert np.allclose(neutral.sum(), 1)
    assert not np.allclose(model.voter_confusion_[:, 0, :], neutral)


def test_useless_model_has_near_chance_confusion_and_labels_nothing():
    rng = np.random.default_rng(7)
    payloads = [{"v": str(v), "w": str(w)} for v, w in rng.normal(size=(300, 2))]
    labels = rng.choice(["a", "b"], size=300).astype(object)  # independent of the features
    model = PreLabeler(FeatureSpec(numeric=["v", "w"])).fit(payloads, labels)
    assert not model.is_useful_
    assert abs(model.cv_accuracy_ - model.chance_rate_) < 0.1
    # Its answers do not depend on the truth: the two rows of its confusion are alike.
    assert np.abs(model.confusion_[0] - model.confusion_[1]).max() < 0.15
    # As a voter it changes nothing: every slice's rows are equal.
    v = model.voter_confusion_
    assert np.allclose(v, v[:, :1, :])
    voters, answers = model.vote(payloads)
    one_answer = posterior(([-1], [0]), np.zeros((0, 2, 2)), [0.5, 0.5], [[0.8, 0.2], [0.2, 0.8]])
    people = np.tile(one_answer, (300, 1))
    combined = combine(people, v, voters, answers)
    assert np.allclose(combined, people)
    assert not np.any(combined.max(axis=1) >= 0.95)


def test_labels_the_model_helped_decide_do_not_measure_it():
    """The feedback loop: people settled most items together with an earlier version's vote,
    so those labels echo the model (here: they follow the features exactly), while the labels
    people reached alone are independent of the features. Measured on every label the model
    would look 85% right and be trusted; measured only on the independent ones it is what it is:
    no better than chance, a neutral voter that labels nothing."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 2))
    payloads = [{"v": str(v), "w": str(w)} for v, w in x]
    echo = np.where(x[:, 0] > 0, "a", "b").astype(object)
    alone = rng.choice(["a", "b"], size=400).astype(object)
    measured = np.arange(400) < 120  # decided by people alone
    labels = np.where(measured, alone, echo)
    spec = FeatureSpec(numeric=["v", "w"])

    trusting = PreLabeler(spec).fit(payloads, labels)
    assert trusting.is_useful_ and trusting.cv_accuracy_ > 0.8  # what the loop would believe

    honest = PreLabeler(spec).fit(payloads, labels, measured=measured)
    assert honest.n_train_ == 400 and honest.n_measured_ == 120
    assert not honest.is_useful_
    assert abs(honest.cv_accuracy_ - 0.5) < 0.12
    v = honest.voter_confusion_
    assert np.allclose(v, v[:, :1, :])  # changes no posterior

    # Too few independent labels to measure it at all: not trusted either, however good.
    few = PreLabeler(spec).fit(payloads, echo, measured=np.arange(400) < 10)
    assert few.n_measured_ == 10 and not few.is_useful_
    with pytest.raises(ValueError, match="measured flags"):
        PreLabeler(spec).fit(payloads, labels, measured=measured[:5])


def graded_reviews(n: int, seed: int) -> tuple[list[dict], np.ndarray]:
    """Texts with 0 to 3 sentiment words of their label: the fewer, the harder."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(["neg", "pos"], size=n).astype(object)
    payloads = []
    for label in labels:
        signal = rng.choice(GOOD if label == "pos" else BAD, size=rng.integers(0, 4))
        words = list(rng.choice(FILLER, size=5)) + list(signal)
        rng.shuffle(words)
        payloads.append({"text": " ".join(words)})
    return payloads, labels


def test_a_sure_model_can_label_alone_and_an_unsure_vote_barely_counts():
    payloads, labels = graded_reviews(600, seed=8)
    spec = FeatureSpec(text=["text"])
    model = PreLabeler(spec, n_bins=3).fit(payloads, labels, None, ["neg", "pos"])
    assert model.is_useful_ and len(model.bin_edges_) == 2
    test, truth = graded_reviews(300, seed=9)
    voters, answers = model.vote(test)
    alone = combine(np.full((300, 2), 0.5), model.voter_confusion_, voters, answers)
    sure = alone.max(axis=1) >= 0.95
    assert 0.3 < sure.mean() < 0.9  # a quarter of the items carry no sentiment word
    assert np.mean(model.classes_[alone[sure].argmax(axis=1)] == truth[sure]) > 0.97
    # A vote's weight (its likelihood ratio) grows with its confidence bin.
    v = model.voter_confusion_
    ratio = [v[b, 1, 1] / v[b, 0, 1] for b in range(len(v))]
    assert ratio[0] < 4 < 20 < ratio[-1], ratio


def test_an_answer_never_seen_wrong_claims_no_more_than_its_examples_support():
    """A few measured labels, none of them wrong where the model was sure: every answer
    (bin, label) it gave n times without an error claims odds of about n + 1 to one (two
    balanced labels), not the ratio of n to the fraction of a pseudo-item an empty cell gets.
    Many such examples still make a strong vote."""
    rng = np.random.default_rng(11)

    def fit(n: int) -> tuple[PreLabeler, np.ndarray]:
        x = rng.normal(size=n)
        payloads = [{"v": str(v)} for v in x]
        labels = np.where(x > 0, "a", "b").astype(object)
        model = PreLabeler(FeatureSpec(numeric=["v"]), n_bins=3).fit(
            payloads, labels, None, ["a", "b"]
        )
        return model, labels

    model, labels = fit(90)
    assert model.is_useful_
    bins = np.searchsorted(model.bin_edges_, model.oof_proba_.max(axis=1), side="right")
    predicted = model.oof_proba_.argmax(axis=1)
    truth = np.where(labels == "a", 0, 1)
    v = model.voter_confusion_
    checked = 0
    for b in range(len(v)):
        for answer in (0, 1):
            given = (bins == b) & (predicted == answer)
            if not given.any() or np.any(truth[given] != answer):
                continue
            odds = v[b, answer, answer] / v[b, 1 - answer, answer]
            assert odds <= given.sum() + 1.5, (b, answer, given.sum(), odds)
            checked += 1
    assert checked >= 2  # the sure bins were never wrong

    strong, _ = fit(2000)
    top = strong.voter_confusion_[-1]
    assert top[0, 0] / top[1, 0] > 100 and top[1, 1] / top[0, 1] > 100


def test_combine_equals_posterior_with_the_model_stacked_after_the_workers():
    payloads, labels = reviews(150, seed=10, noise=0.1)
    model = PreLabeler(FeatureSpec(text=["text"])).fit(payloads, labels, None, ["neg", "pos"])
    workers = np.array([[[0.8, 0.2], [0.3, 0.7]], [[0.6, 0.4], [0.1, 0.9]]])
    prior = np.array([0.4, 0.6])
    people = posterior(([0, 1], [1, 0]), workers, prior)
    voters, answers = model.vote(payloads[:1])
    stacked = np.concatenate([workers, model.voter_confusion_])
    both = posterior(([0, 1, 2 + voters[0]], [1, 0, answers[0]]), stacked, prior)
    assert np.allclose(combine(people, model.voter_confusion_, voters[0], answers[0]), both)
    # A voter code of -1 means no vote.
    assert np.allclose(combine(people, model.voter_confusion_, -1, 0), people)


def test_fit_is_deterministic_with_a_random_state():
    payloads, labels = reviews(150, seed=11, noise=0.2)
    a = PreLabeler(FeatureSpec(text=["text"]), random_state=3).fit(payloads, labels)
    b = PreLabeler(FeatureSpec(text=["text"]), random_state=3).fit(payloads, labels)
    assert np.array_equal(a.oof_proba_, b.oof_proba_)
    assert np.array_equal(a.voter_confusion_, b.voter_confusion_)
    assert np.array_equal(a.predict_proba(payloads), b.predict_proba(payloads))


@pytest.mark.parametrize(
    ("classifier", "spec"),
    [
        ("nb", FeatureSpec(text=["text"], numeric=["n"])),
        ("hgb", FeatureSpec(text=["text"], numeric=["n"])),
    ],
)
def test_other_classifiers_by_name(classifier, spec):
    payloads, labels = reviews(150, seed=12)
    payloads = [{**p, "n": str(i % 7)} for i, p in enumerate(payloads)]
    params = {"max_iter": 30} if classifier == "hgb" else None
    model = PreLabeler(spec, classifier=classifier, classifier_params=params).fit(payloads, labels)
    assert model.is_useful_ and model.cv_accuracy_ > 0.9
    assert model.predict_proba(payloads).shape == (150, 2)


def test_nb_needs_text_and_unknown_classifiers_are_refused():
    payloads = [{"n": str(i)} for i in range(40)]
    labels = ["a", "b"] * 20
    with pytest.raises(ValueError, match="text"):
        PreLabeler(FeatureSpec(numeric=["n"]), classifier="nb").fit(payloads, labels)
    with pytest.raises(ValueError, match="unknown classifier"):
        PreLabeler(FeatureSpec(numeric=["n"]), classifier="svm").fit(payloads, labels)


def test_fit_refuses_too_few_items_one_label_and_unknown_labels():
    payloads, labels = reviews(30, seed=13)
    spec = FeatureSpec(text=["text"])
    with pytest.raises(ValueError, match="at least 50"):
        PreLabeler(spec, min_train=50).fit(payloads, labels)
    with pytest.raises(ValueError, match="two labels"):
        PreLabeler(spec).fit(payloads, ["pos"] * 30, label_order=["neg", "pos"])
    with pytest.raises(ValueError, match="two labels"):  # a label with zero weight is no label
        PreLabeler(spec).fit(payloads, labels, np.where(labels == "pos", 1.0, 0.0))
    with pytest.raises(ValueError, match="label_order"):
        PreLabeler(spec).fit(payloads, labels, label_order=["pos"])
    with pytest.raises(ValueError, match="weights"):
        PreLabeler(spec).fit(payloads, labels, -np.ones(30))


def test_wilson_lower_bound():
    assert wilson_lower(0.5, 0) == 0.0
    assert wilson_lower(0.6, 100) < 0.6
    assert wilson_lower(0.6, 10_000) == pytest.approx(0.592, abs=1e-3)
    assert wilson_lower(1.0, 20) < 1.0


# -- real data ---------------------------------------------------------------------------------


def test_music_genre_numeric_features_make_a_useful_model():
    payloads, labels = load("music_genre")
    spec = FeatureSpec(numeric=[f"feature{i}" for i in range(124)])
    model = PreLabeler(spec).fit(payloads, labels, label_order=sorted(set(labels)))
    # Seen: out-of-fold accuracy 0.749 on the 700 gold labels (10 genres, chance 0.107).
    assert model.is_useful_
    assert 0.65 < model.cv_accuracy_ < 0.9
    assert model.chance_rate_ < 0.12
    assert model.confusion_.shape == (10, 10)


def test_sentiment_polarity_text_makes_a_useful_model():
    payloads, labels = load("sentiment_polarity")
    model = PreLabeler(FeatureSpec(text=["text"])).fit(payloads[:1200], labels[:1200])
    # Seen: out-of-fold accuracy 0.677 on 1,200 sentences (chance 0.506), 0.687 on the next 1,000.
    assert model.is_useful_
    assert 0.65 < model.cv_accuracy_ < 0.85
    rest = model.predict(payloads[2000:3000])
    assert np.mean(rest == labels[2000:3000]) > 0.65
