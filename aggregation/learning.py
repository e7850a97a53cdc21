r"""The pre-labeler: a scikit-learn model that votes in the same posterior as people.

Pure (numpy, scipy, scikit-learn; no Django). The platform trains it on the project's final labels,
weighted by their confidence, and lets it vote on the items it was not trained on.

>>> spec = FeatureSpec(text=["text"])
>>> model = PreLabeler(spec).fit(payloads, labels, weights, label_order)  # doctest: +SKIP
>>> voters, answers = model.vote(new_payloads)                            # doctest: +SKIP
>>> p = combine(people_posterior, model.voter_confusion_, voters, answers)  # doctest: +SKIP

Features (:class:`FeatureSpec`, :class:`PayloadVectorizer`)
    An item's payload is a dict (a CSV row, a JSONL object). Text fields get word (1–2-gram) and
    character (2–5-gram, within words) TF-IDF, one shared vocabulary, one block per field; with two
    or more text fields, the cosine similarity of each pair of fields (word and character) is added,
    which is what entity matching (``record_a`` against ``record_b``) and entailment
    (``text`` against ``hypothesis``) turn on. Numeric fields are parsed (strings from a CSV,
    ``"$179.00"``, ``"1,234"``; blank or unparsable is missing), imputed with the training median
    plus a missing-indicator column, and standardized.

Classifiers (``classifier=``)
    ``"logreg"`` (default): multinomial logistic regression on all features. ``"nb"``:
    complement naive Bayes (text; numeric columns min-max scaled into [0, 1] because it needs
    non-negative features). ``"hgb"`` (alias ``"gbm"``): histogram gradient boosting (numeric;
    text enters through a 100-component truncated SVD of its TF-IDF). Or any scikit-learn
    classifier with ``predict_proba`` (it gets the sparse logistic-regression features).
    Every one is trained with ``sample_weight`` = the labels' confidences.

The model's own confusion matrix, out of fold
    The labeled items are split into ``n_folds`` stratified folds; each fold is predicted by
    features and a classifier fitted on the other folds only, so a held-out item is as new to its
    model as the items the model will vote on (words it never saw included). From these out-of-fold
    predictions, with ``w_i`` the weight of item ``i``, ``y_i`` its label, ``ŷ_i`` the predicted
    label and ``b_i`` its confidence bin (below):

    .. math:: N[k, b, l] = \sum_{i: y_i = k,\ b_i = b,\ \hat y_i = l} w_i, \qquad
              P[k, b, l] \propto N[k, b, l] + s\,(m[b, l] + \rho_k)

    (each row normalized), where ``m`` is the class-independent share of each (bin, predicted
    label) pair, Laplace smoothed so no cell is zero, ``ρ_k`` the Laplace-smoothed share of label
    ``k`` among the measured labels, and ``s = pseudo_count``. ``m`` is the row of a voter who
    says nothing about the truth, so the first term pulls a sparsely seen class toward *no
    effect*, and a label with no training example (``K`` comes from ``label_order``) gets about
    that row. The second gives every answer ``(b, l)`` ``s`` imaginary items spread like the
    labels, so an answer seen ``n`` times and never wrong claims odds of about
    ``n / (s ρ_k) + 1`` to one against label ``k`` (``n + 1`` with two balanced labels), not the
    ratio of ``n`` to the fraction of a pseudo-item that a zero count would otherwise get
    (on sentiment_polarity that ratio let a first version trained on 231 labels label 92 items
    alone at 0.95 sure; 86% of them were right).
    ``confusion_[k, l] = Σ_b P[k, b, l]`` (rows: true label, columns: predicted label, rows sum to
    one) is the model's honest confusion matrix; ``cv_accuracy_`` is the weighted share of
    out-of-fold predictions that match the label. All of these, the bins and the chance rate
    count only the *measured* labels (``fit(measured=…)``): labels that the model's earlier
    versions helped decide train it but would flatter it as a measure.

The model as a voter
    Dawid-Skene treats a worker's answer ``l`` as evidence ``C[k, l] = P(answer l | truth k)``.
    The model's answer is its predicted label *and how sure it was*: the out-of-fold confidences
    (maximum probability) are cut into ``n_bins`` equal-count bins, so a prediction made with 0.99
    and one made with 0.55 count as different answers with their own, separately measured,
    reliability — the model labels what it is sure of and hedges the rest, without trusting its
    raw probabilities. The model is thus one more worker with answer alphabet (bin, label) and

    .. math:: P(z = k \mid \text{people}, \text{model}) \propto
              P(z = k \mid \text{people}) \; P[k, b, l].

    ``voter_confusion_[b, k, l] = P[k, b, l]`` has the shape ``(B, K, K)`` of a stack of worker
    confusion matrices, so the model enters :func:`aggregation.posterior` as ``B`` extra "workers"
    (one per bin; each answers with its slice), or :func:`combine` updates a posterior already
    computed from people. The slices' rows sum to ``P(b | k)``, not one: :func:`posterior` only
    multiplies the columns of the answers given, and the bin's own likelihood belongs in it.
    With ``n_bins=1`` this is the plain "model's hard label with its out-of-fold confusion" voter.
    The vote is cast by the fold models (:meth:`PreLabeler.vote`), whose answers on new items are
    distributed like the out-of-fold answers that measured them; the final model, trained on
    every item and more confident, serves :meth:`~PreLabeler.predict_proba` and
    :meth:`~PreLabeler.predict`.

    Only vote on items the model was **not trained on**: on a training item its vote echoes the
    consensus it learned from, which is not independent evidence.

Do no harm (``is_useful_``)
    Chance is the weighted majority-class rate ``r`` of the training labels (what always
    answering the most common label scores). The model is useful when the one-sided Wilson lower
    bound of its out-of-fold accuracy, at level ``1 − significance`` (z = 1.645 for the default
    0.05) with the Kish effective sample size ``n = (Σw)² / Σw²``, is above ``r``:

    .. math:: \frac{\hat a + \frac{z^2}{2n} - z\sqrt{\frac{\hat a(1-\hat a)}{n}
              + \frac{z^2}{4n^2}}}{1 + z^2/n} > r.

    A useless model's ``voter_confusion_`` is replaced by the neutral voter (every true label's
    row equal to ``m``), whose likelihood is the same for every ``k``: as a voter it changes no
    posterior at all, so it can finalize nothing. ``confusion_`` stays the honest estimate (its
    rows are near each other for such a model: its answers do not depend on the truth).

Minimum size: ``fit`` raises ``ValueError`` with fewer than ``min_train`` labeled items or fewer
than two labels with positive weight; the caller decides when to (re)train.
"""

from __future__ import annotations

import math
import re
import time
import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.stats import norm
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.decomposition import TruncatedSVD
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.naive_bayes import ComplementNB
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.utils.validation import has_fit_parameter
from threadpoolctl import threadpool_limits

__all__ = [
    "CLASSIFIERS",
    "FeatureSpec",
    "PayloadVectorizer",
    "PreLabeler",
    "combine",
    "make_classifier",
    "parse_number",
]

#: Classifier names accepted by :class:`PreLabeler` (``"gbm"`` is an alias of ``"hgb"``).
CLASSIFIERS = ("logreg", "nb", "hgb", "gbm")
#: Fewest training items per confidence bin: fewer items mean fewer bins.
MIN_PER_BIN = 30
#: Components of the text SVD that feeds gradient boosting.
SVD_COMPONENTS = 100

Payload = Mapping[str, Any]

_NUMBER_NOISE = re.compile(r"[\s,$€£¥%]")


def parse_number(value: Any) -> float:
    """A numeric field as a float, ``nan`` when missing.

    Numbers pass through; strings lose spaces, currency signs, ``%`` and thousands commas
    (``"$1,179.00"`` → 1179.0); ``None``, blank, booleans and unparsable strings are missing.
    """
    if value is None or isinstance(value, bool):
        return math.nan
    if isinstance(value, int | float | np.integer | np.floating):
        x = float(value)
        return x if math.isfinite(x) else math.nan
    text = _NUMBER_NOISE.sub("", str(value))
    try:
        x = float(text)
    except ValueError:
        return math.nan
    return x if math.isfinite(x) else math.nan


@dataclass(frozen=True)
class FeatureSpec:
    """Which payload fields feed the model, and how.

    Parameters
    ----------
    text : sequence of str
        Fields read as text (word and character TF-IDF; a missing field is empty text).
    numeric : sequence of str
        Fields read as numbers (:func:`parse_number`; missing values imputed).
    char_ngrams : bool, default True
        Add character 2–5-gram TF-IDF to the word 1–2-grams.
    max_features : int, default 50000
        Vocabulary size of each TF-IDF (words, characters).
    pair_similarity : bool, default True
        With two or more text fields, add the cosine similarity of each pair.
    """

    text: Sequence[str] = ()
    numeric: Sequence[str] = ()
    char_ngrams: bool = True
    max_features: int = 50_000
    pair_similarity: bool = True

    def __post_init__(self) -> None:
        for name in ("text", "numeric"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise TypeError(f"FeatureSpec.{name} is a list of field names, not a string")
            object.__setattr__(self, name, tuple(value))
        if not self.text and not self.numeric:
            raise ValueError("FeatureSpec needs at least one text or numeric field")
        both = set(self.text) & set(self.numeric)
        if both:
            raise ValueError(f"fields both text and numeric: {sorted(both)}")


class PayloadVectorizer(TransformerMixin, BaseEstimator):
    """Payloads (a list of dicts) → a feature matrix, as :class:`FeatureSpec` says.

    Unsupervised: ``fit`` learns vocabularies, medians and scales from the payloads alone.

    Parameters
    ----------
    spec : FeatureSpec
    numeric_scaling : {"standard", "minmax"}, default "standard"
        ``"minmax"`` maps numeric columns into [0, 1] (clipped), for naive Bayes.
    text_components : int or None, default None
        Reduce the text TF-IDF to this many SVD components (and return a dense array).
    random_state : int or None, default 0
        Seed of the SVD.
    """

    def __init__(
        self,
        spec: FeatureSpec,
        numeric_scaling: str = "standard",
        text_components: int | None = None,
        random_state: int | None = 0,
    ) -> None:
        self.spec = spec
        self.numeric_scaling = numeric_scaling
        self.text_components = text_components
        self.random_state = random_state

    def _texts(self, payloads: Sequence[Payload], field: str) -> list[str]:
        return [_text(p.get(field)) for p in payloads]

    def _numbers(self, payloads: Sequence[Payload]) -> np.ndarray:
        fields = self.spec.numeric
        return np.array(
            [[parse_number(p.get(f)) for f in fields] for p in payloads], dtype=np.float64
        ).reshape(len(payloads), len(fields))

    def fit(self, payloads: Sequence[Payload], y: Any = None) -> PayloadVectorizer:  # noqa: ARG002
        spec = self.spec
        if self.numeric_scaling not in ("standard", "minmax"):
            raise ValueError(
                f"numeric_scaling must be 'standard' or 'minmax', got {self.numeric_scaling!r}"
            )
        self.vectorizers_ = []
        if spec.text:
            corpus = [t for f in spec.text for t in self._texts(payloads, f)]
            analyzers = [("word", (1, 2))] + ([("char_wb", (2, 5))] if spec.char_ngrams else [])
            for analyzer, ngrams in analyzers:
                vec = TfidfVectorizer(
                    analyzer=analyzer,
                    ngram_range=ngrams,
                    sublinear_tf=True,
                    max_features=spec.max_features,
                    dtype=np.float64,
                )
                self.vectorizers_.append(vec.fit(corpus))
        self.svd_ = None
        if spec.numeric:
            imputer = SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)
            scaler = (
                StandardScaler() if self.numeric_scaling == "standard" else MinMaxScaler(clip=True)
            )
            x = imputer.fit_transform(self._numbers(payloads))
            self.imputer_, self.scaler_ = imputer, scaler.fit(x)
        if spec.text and self.text_components:
            text = self._text_block(payloads)
            n = min(self.text_components, text.shape[1] - 1, text.shape[0] - 1)
            if n >= 1:
                self.svd_ = TruncatedSVD(n, random_state=self.random_state).fit(text)
        return self

    def _text_block(self, payloads: Sequence[Payload]) -> sp.csr_matrix:
        blocks, per_field = [], []
        for field in self.spec.text:
            texts = self._texts(payloads, field)
            mats = [vec.transform(texts) for vec in self.vectorizers_]
            per_field.append(mats)
            blocks.extend(mats)
        if self.spec.pair_similarity:
            # TF-IDF rows are L2-normalized: the cosine is the row-wise dot product.
            sims = [
                np.asarray(a[v].multiply(b[v]).sum(axis=1)).ravel()
                for a, b in combinations(per_field, 2)
                for v in range(len(self.vectorizers_))
            ]
            if sims:
                blocks.append(sp.csr_matrix(np.column_stack(sims)))
        return sp.hstack(blocks, format="csr")

    def transform(self, payloads: Sequence[Payload]) -> sp.csr_matrix | np.ndarray:
        """The feature matrix: sparse CSR, or dense when ``text_components`` is set."""
        blocks: list[Any] = []
        if self.spec.text:
            text = self._text_block(payloads)
            blocks.append(text if self.svd_ is None else self.svd_.transform(text))
        if self.spec.numeric:
            blocks.append(self.scaler_.transform(self.imputer_.transform(self._numbers(payloads))))
        if self.text_components:
            return np.hstack([b.toarray() if sp.issparse(b) else b for b in blocks])
        return sp.hstack([sp.csr_matrix(b) for b in blocks], format="csr")


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def make_classifier(name: str, random_state: int | None = 0, **params: Any) -> BaseEstimator:
    """An unfitted classifier by name (see :data:`CLASSIFIERS`); ``params`` override defaults."""
    if name == "logreg":
        return LogisticRegression(**{"C": 1.0, "max_iter": 2000, **params})
    if name == "nb":
        return ComplementNB(**{"alpha": 1.0, **params})
    if name in ("hgb", "gbm"):
        defaults = {"max_iter": 100, "early_stopping": False, "random_state": random_state}
        return HistGradientBoostingClassifier(**{**defaults, **params})
    raise ValueError(f"unknown classifier {name!r}; expected one of {CLASSIFIERS} or an estimator")


def combine(
    posterior: np.ndarray,
    voter_confusion: np.ndarray,
    voter_codes: Any,
    label_codes: Any,
) -> np.ndarray:
    r"""Add the model's vote to posteriors computed from people (and gold, and the class prior).

    .. math:: p'(k) = \frac{p(k)\, V[v, k, l]}{\sum_{k'} p(k')\, V[v, k', l]}

    the Bayes update by one more independent answer ``l`` from voter ``v`` with confusion
    ``V = voter_confusion`` (:attr:`PreLabeler.voter_confusion_`; ``v`` is the confidence bin
    from :meth:`PreLabeler.vote`). Same result as giving :func:`aggregation.posterior` the
    model's answer with its ``B`` slices appended to the worker stack. A voter code of ``-1``
    means "no model vote" and leaves the row unchanged.

    Parameters
    ----------
    posterior : ndarray, shape (K,) or (n, K)
    voter_confusion : ndarray, shape (B, K, K)
    voter_codes, label_codes : int or int array of shape (n,)

    Returns
    -------
    ndarray of the shape of ``posterior``, rows summing to one.
    """
    p = np.asarray(posterior, dtype=np.float64)
    single = p.ndim == 1
    p2 = np.atleast_2d(p)
    v = np.broadcast_to(np.asarray(voter_codes, dtype=np.intp).ravel(), (len(p2),))
    lab = np.broadcast_to(np.asarray(label_codes, dtype=np.intp).ravel(), (len(p2),))
    conf = np.asarray(voter_confusion, dtype=np.float64)
    voted = v >= 0
    like = np.ones_like(p2)
    like[voted] = conf[v[voted], :, lab[voted]]
    out = p2 * like
    out /= out.sum(axis=1, keepdims=True)
    return out[0] if single else out


class PreLabeler(BaseEstimator):
    """A probabilistic classifier over item payloads that knows how reliable it is.

    See the module docstring for the features, the out-of-fold confusion matrix, the voter and
    the do-no-harm rule.

    Parameters
    ----------
    features : FeatureSpec
    classifier : str or estimator, default "logreg"
        ``"logreg"``, ``"nb"``, ``"hgb"``/``"gbm"``, or an unfitted scikit-learn classifier.
    n_folds : int, default 5
        Stratified folds of the out-of-fold predictions.
    n_bins : int, default 3
        Confidence bins of the model's vote (fewer when there are fewer than
        ``MIN_PER_BIN`` training items per bin; 1 = hard label only).
    pseudo_count : float, default 2.0
        Weight ``s``, in imaginary items per true label and per answer, of the neutral prior on
        the confusion.
    min_train : int, default 20
        Fewest labeled items ``fit`` accepts.
    significance : float, default 0.05
        Level of the do-no-harm test.
    classifier_params : dict or None
        Overrides of the named classifier's defaults (e.g. ``{"C": 4.0}``).
    random_state : int or None, default 0
        Seed of the folds, the SVD and gradient boosting.

    Attributes
    ----------
    classes_ : ndarray, shape (K,)
        ``label_order``: the columns of :meth:`predict_proba` and the codes of :meth:`vote`.
    confusion_ : ndarray, shape (K, K)
        Out-of-fold ``P(predicted l | true k)``, ``[true, predicted]``.
    voter_confusion_ : ndarray, shape (B, K, K)
        ``P(bin b, predicted l | true k)``, neutral when not ``is_useful_``.
    bin_edges_ : ndarray, shape (B - 1,)
        Confidence thresholds between bins.
    cv_accuracy_ : float
        Weighted out-of-fold accuracy (on the measured labels, as are the next three).
    cv_accuracy_lower_ : float
        Its one-sided Wilson lower bound.
    chance_rate_ : float
        Weighted majority-class rate of the measured training labels.
    is_useful_ : bool
        ``cv_accuracy_lower_ > chance_rate_`` (and at least ``min_train`` measured labels).
    n_train_ : int
    n_measured_ : int
        Training labels that measured the model (``measured``).
    n_effective_ : float
        Kish effective sample size of the measured labels' weights.
    oof_proba_ : ndarray, shape (n_train_, K)
        The out-of-fold probabilities, in training order.
    training_seconds_ : float
        Wall time of ``fit`` (folds and final model).
    vectorizer_, classifier_ :
        The final model's features and classifier (all training items).
    fold_models_ : list of (PayloadVectorizer, classifier)
        The cross-validation models, which cast :meth:`vote`.
    """

    def __init__(
        self,
        features: FeatureSpec,
        classifier: str | BaseEstimator = "logreg",
        n_folds: int = 5,
        n_bins: int = 3,
        pseudo_count: float = 2.0,
        min_train: int = 20,
        significance: float = 0.05,
        classifier_params: dict[str, Any] | None = None,
        random_state: int | None = 0,
    ) -> None:
        self.features = features
        self.classifier = classifier
        self.n_folds = n_folds
        self.n_bins = n_bins
        self.pseudo_count = pseudo_count
        self.min_train = min_train
        self.significance = significance
        self.classifier_params = classifier_params
        self.random_state = random_state

    # -- construction -------------------------------------------------------------------------
    def _make_parts(self) -> tuple[PayloadVectorizer, BaseEstimator]:
        spec, clf = self.features, self.classifier
        if not isinstance(clf, str):
            if self.classifier_params:
                clf = clone(clf).set_params(**self.classifier_params)
            return PayloadVectorizer(spec, random_state=self.random_state), clone(clf)
        estimator = make_classifier(clf, self.random_state, **(self.classifier_params or {}))
        if clf == "nb":
            if not spec.text:
                raise ValueError("classifier 'nb' needs at least one text field")
            vec = PayloadVectorizer(spec, numeric_scaling="minmax")
        elif clf in ("hgb", "gbm"):
            vec = PayloadVectorizer(
                spec, text_components=SVD_COMPONENTS, random_state=self.random_state
            )
        else:
            vec = PayloadVectorizer(spec, random_state=self.random_state)
        return vec, estimator

    # -- fitting -------------------------------------------------------------------------------
    def fit(
        self,
        payloads: Sequence[Payload],
        labels: Sequence[Any],
        weights: Sequence[float] | np.ndarray | None = None,
        label_order: Sequence[Any] | None = None,
        measured: Sequence[bool] | np.ndarray | None = None,
    ) -> PreLabeler:
        """Train on labeled payloads and measure the model out of fold.

        Parameters
        ----------
        payloads : sequence of dict
            One payload per labeled item.
        labels : sequence
            Each item's final label (a label id from ``label_order``).
        weights : array of float >= 0, optional
            Each label's confidence (sample weight); default all ones.
        label_order : sequence, optional
            All ``K`` labels of the project, in code order; default the sorted distinct labels.
            A label with no example still gets a row (the neutral one) and a column.
        measured : array of bool, optional
            Which labels may *measure* the model (default all): labels people reached without
            this model's earlier versions voting. A label decided with a model's vote agrees
            with the model partly because of it; measuring the model on it makes it look
            better than it is, and the next version trusts itself more (a feedback loop). All
            items are trained on; the confusion, accuracy, chance rate and do-no-harm test use
            only the measured ones, and a model with fewer than ``min_train`` of them is not
            useful.

        Raises
        ------
        ValueError
            Fewer than ``min_train`` items, fewer than two labels with positive weight, a label
            outside ``label_order``, mismatched lengths or negative weights.
        """
        with _one_thread():
            return self._fit(payloads, labels, weights, label_order, measured)

    def _fit(
        self,
        payloads: Sequence[Payload],
        labels: Sequence[Any],
        weights: Sequence[float] | np.ndarray | None,
        label_order: Sequence[Any] | None,
        measured: Sequence[bool] | np.ndarray | None = None,
    ) -> PreLabeler:
        start = time.perf_counter()
        payloads = list(payloads)
        labels = np.asarray(labels, dtype=object)
        n = len(payloads)
        if labels.shape != (n,):
            raise ValueError(f"{n} payloads but {labels.size} labels")
        w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
        if w.shape != (n,):
            raise ValueError(f"{n} payloads but {w.size} weights")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("weights must be finite and >= 0")
        m = np.ones(n, dtype=bool) if measured is None else np.asarray(measured, dtype=bool)
        if m.shape != (n,):
            raise ValueError(f"{n} payloads but {m.size} measured flags")
        if self.n_folds < 2:
            raise ValueError("n_folds must be at least 2")
        if self.n_bins < 1:
            raise ValueError("n_bins must be at least 1")
        if label_order is None:
            label_order = sorted(set(labels.tolist()))
        classes = np.asarray(list(label_order), dtype=object)
        code = {label: i for i, label in enumerate(classes.tolist())}
        if len(code) != len(classes):
            raise ValueError("label_order has duplicates")
        unknown = set(labels.tolist()) - set(code)
        if unknown:
            raise ValueError(f"labels outside label_order: {sorted(map(str, unknown))}")
        if n < self.min_train:
            raise ValueError(f"{n} labeled items; the pre-labeler needs at least {self.min_train}")
        y = np.fromiter((code[label] for label in labels), dtype=np.intp, count=n)
        k = len(classes)
        class_weight = np.bincount(y, weights=w, minlength=k)
        if np.count_nonzero(class_weight > 0) < 2:
            raise ValueError("the pre-labeler needs labeled items of at least two labels")

        vectorizer, estimator = self._make_parts()
        if not has_fit_parameter(estimator, "sample_weight") and not np.allclose(w, w[0]):
            raise ValueError(f"{type(estimator).__name__} does not accept sample weights")
        # Out-of-fold probabilities: features and classifier fitted on the other folds only.
        folds = StratifiedKFold(
            n_splits=min(self.n_folds, n), shuffle=True, random_state=self.random_state
        )
        oof = np.zeros((n, k))
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="The least populated class", category=UserWarning
            )
            splits = list(folds.split(np.zeros(n), y))
        fold_models = []
        for train, test in splits:
            fold_vec = clone(vectorizer)
            x_train = fold_vec.fit_transform([payloads[i] for i in train])
            model = _fit_fold(estimator, x_train, y[train], w[train])
            oof[test] = _proba_in_order(model, fold_vec.transform([payloads[i] for i in test]), k)
            fold_models.append((fold_vec, model))
        pred = oof.argmax(axis=1)
        sure = oof.max(axis=1)
        # Only the measured labels measure the model (see ``measured``).
        n_measured = int(m.sum())
        wm = np.where(m, w, 0.0)

        # Confidence bins: equal-count cuts of the out-of-fold confidence.
        n_bins = max(1, min(self.n_bins, n_measured // MIN_PER_BIN))
        edges = np.unique(np.quantile(sure[m], np.arange(1, n_bins) / n_bins)) if n_bins > 1 else []
        edges = np.asarray(edges, dtype=np.float64)
        bins = np.searchsorted(edges, sure, side="right")
        n_bins = len(edges) + 1

        # Joint counts N[k, b, l] and the neutral prior row m[b, l].
        cells = n_bins * k
        counts = np.bincount(y * cells + bins * k + pred, weights=wm, minlength=k * cells)
        counts = counts.reshape(k, n_bins, k)
        pooled = counts.sum(axis=0)
        neutral = (pooled + 1.0) / (pooled.sum() + cells)
        # Each answer (b, l) also gets ``s`` imaginary items spread like the labels: an answer
        # seen n times, always right, then claims about n + 1 to 1, not the ratio of two counts
        # of which one is zero.
        shares = (counts.sum(axis=(1, 2)) + 1.0) / (counts.sum() + k)
        joint = counts + self.pseudo_count * (neutral + shares[:, None, None])
        joint /= joint.sum(axis=(1, 2), keepdims=True)

        # Do no harm.
        total = wm.sum()
        if total > 0:
            accuracy = float(wm[pred == y].sum() / total)
            chance = float(np.bincount(y, weights=wm, minlength=k).max() / total)
            n_eff = float(total**2 / np.sum(wm**2))
        else:  # nothing to measure it on
            accuracy, chance, n_eff = 0.0, 1.0, 0.0
        lower = wilson_lower(accuracy, n_eff, self.significance)
        useful = lower > chance and n_measured >= self.min_train
        voter = joint if useful else np.broadcast_to(neutral, joint.shape).copy()

        self.classes_ = classes
        self.confusion_ = joint.sum(axis=1)
        self.voter_confusion_ = np.ascontiguousarray(voter.transpose(1, 0, 2))
        self.bin_edges_ = edges
        self.cv_accuracy_ = accuracy
        self.cv_accuracy_lower_ = lower
        self.chance_rate_ = chance
        self.is_useful_ = bool(useful)
        self.n_train_ = n
        self.n_measured_ = n_measured
        self.n_effective_ = n_eff
        self.oof_proba_ = oof
        self.vectorizer_ = vectorizer
        self.fold_models_ = fold_models
        x = vectorizer.fit_transform(payloads)
        self.classifier_ = _fit_fold(estimator, x, y, w)
        self.training_seconds_ = time.perf_counter() - start
        return self

    # -- prediction ----------------------------------------------------------------------------
    def predict_proba(self, payloads: Sequence[Payload]) -> np.ndarray:
        """``(n, K)`` class probabilities, columns in ``label_order`` (a label the classifier
        never saw gets 0). The model's own belief, uncalibrated: for decisions use the vote."""
        with _one_thread():
            x = self.vectorizer_.transform(list(payloads))
            return _proba_in_order(self.classifier_, x, len(self.classes_))

    def predict(self, payloads: Sequence[Payload]) -> np.ndarray:
        """The most probable label id per payload."""
        return self.classes_[self.predict_proba(payloads).argmax(axis=1)]

    def vote(self, payloads: Sequence[Payload]) -> tuple[np.ndarray, np.ndarray]:
        """The model's answers: ``(voter_codes, label_codes)``, int arrays of shape ``(n,)``.

        ``voter_codes`` is the confidence bin (index into ``voter_confusion_``), ``label_codes``
        the predicted label's code in ``label_order``. Feed them to :func:`combine`, or append
        ``W + voter_codes`` and ``label_codes`` to an item's answers for
        :func:`aggregation.posterior` with ``voter_confusion_`` stacked after the ``W`` workers.

        The vote is cast by one of the cross-validation models (chosen by a hash of the
        payload's fields, so an item always gets the same one), not by the final model: its
        answers on new items are then distributed exactly like the out-of-fold answers its
        reliability was measured on. The final model, trained on every item, is more confident
        than the fold models; its confidence would land items in a higher bin than the one
        measured (on sentiment_polarity with 999 training items, half of the new items fell
        in the top third of the fold models' confidence, whose measured reliability was then
        far too high: 18% of new items reached 0.95 on the vote alone, 86% of them right).
        """
        payloads = list(payloads)
        k = len(self.classes_)
        fields = tuple(self.features.text) + tuple(self.features.numeric)
        fold = np.array([_payload_key(p, fields) for p in payloads], dtype=np.int64)
        fold %= len(self.fold_models_)
        proba = np.zeros((len(payloads), k))
        with _one_thread():
            for f, (vectorizer, model) in enumerate(self.fold_models_):
                rows = np.flatnonzero(fold == f)
                if rows.size:
                    x = vectorizer.transform([payloads[i] for i in rows])
                    proba[rows] = _proba_in_order(model, x, k)
        bins = np.searchsorted(self.bin_edges_, proba.max(axis=1), side="right")
        return bins.astype(np.intp), proba.argmax(axis=1).astype(np.intp)


def wilson_lower(accuracy: float, n: float, significance: float = 0.05) -> float:
    """One-sided Wilson lower confidence bound of a proportion ``accuracy`` out of ``n`` trials."""
    if n <= 0:
        return 0.0
    z = float(norm.ppf(1.0 - significance))
    centre = accuracy + z * z / (2 * n)
    spread = z * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


def _one_thread() -> threadpool_limits:
    """One BLAS/OpenMP thread. L-BFGS makes many tiny BLAS calls, the text SVD small QR
    factorizations and gradient boosting short OpenMP loops; threads only slow them down on a
    busy machine (product on two cores under load: 35 s against 3 s per logistic fit; a
    randomized SVD 10×). A platform scales out with processes (Celery workers), not threads."""
    return threadpool_limits(limits=1)


def _fit(estimator: Any, x: Any, y: np.ndarray, w: np.ndarray) -> Any:
    if has_fit_parameter(estimator, "sample_weight"):
        return estimator.fit(x, y, sample_weight=w)
    return estimator.fit(x, y)


def _proba_in_order(estimator: Any, x: Any, k: int) -> np.ndarray:
    out = np.zeros((x.shape[0], k))
    out[:, np.asarray(estimator.classes_, dtype=np.intp)] = estimator.predict_proba(x)
    return out


class _OneLabel:
    """What a fold with a single label left can learn: that label, always."""

    def __init__(self, label: int) -> None:
        self.classes_ = np.array([label])

    def predict_proba(self, x: Any) -> np.ndarray:
        return np.ones((x.shape[0], 1))


def _fit_fold(estimator: Any, x: Any, y: np.ndarray, w: np.ndarray) -> Any:
    """A clone trained on the rows with positive weight."""
    keep = np.flatnonzero(w > 0)
    present = np.unique(y[keep])
    if len(present) < 2:
        return _OneLabel(int(present[0]) if len(present) else int(np.bincount(y).argmax()))
    return _fit(clone(estimator), x[keep], y[keep], w[keep])


def _payload_key(payload: Payload, fields: Sequence[str]) -> int:
    """A stable hash of the fields the model reads (same content, same fold model)."""
    text = "\x1f".join(_text(payload.get(f)) for f in fields)
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))
