# -*- coding: utf-8 -*-
"""Benign model files written by the real libraries, across Python, NumPy, joblib and
scikit-learn versions, for `crates/aigis-scan/tests/benign.rs` (all must be `safe`) and
`bench/benign_eval.py --extra`.

Runs under Python 2.7 and 3.x alike, with whatever numpy, scipy, scikit-learn, joblib
(and lz4) the interpreter has, and writes one folder named after them:

    python scripts/make_benign_corpus.py tests/data/benign

`tests/data/benign/README.md` lists the environments the committed files come from and
the commands that made them. Nothing here is malicious; every file is what a user of
these libraries writes every day (plain arrays, object arrays, estimators, joblib dumps
with each compressor, pickles of every protocol).
"""

from __future__ import print_function

import collections
import datetime
import decimal
import io
import os
import pickle
import sys

import numpy as np

try:
    import joblib
except ImportError:  # scikit-learn < 0.21 bundles it
    from sklearn.externals import joblib

import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

try:
    import lz4  # noqa: F401  (joblib's lz4 compressor needs it)

    HAVE_LZ4 = True
except ImportError:
    HAVE_LZ4 = False


def short(version):
    return ".".join(version.split(".")[:2])


def tag():
    return "py{0}{1}-np{2}-sk{3}-jl{4}".format(
        sys.version_info[0], sys.version_info[1], short(np.__version__),
        short(sklearn.__version__), short(joblib.__version__))


def objects():
    """An object array with what NumPy's own py2/py3 test files hold, and more."""
    return np.array([None, range, u"\u512a\u826f", b"\xe4\xb8\x8d", {"k": 1}, [1, 2.5],
                     (3, u"x"), decimal.Decimal("1.5"), datetime.date(2020, 1, 2)],
                    dtype=object)


def arrays():
    rs = np.random.RandomState(0)
    d = collections.OrderedDict()
    d["float32"] = rs.rand(3, 2).astype(np.float32)
    d["int64"] = np.arange(4, dtype=np.int64)
    d["bool"] = np.array([True, False])
    d["unicode"] = np.array([u"ab", u"\u00e9"])
    d["bytes"] = np.array([b"ab", b"c"])
    d["datetime"] = np.array(["2020-01-01", "2021-06-30"], dtype="datetime64[D]")
    d["complex"] = np.array([1 + 2j])
    d["fortran"] = np.asfortranarray(rs.rand(2, 3))
    d["matrix"] = np.matrix([[1, 2], [3, 4]])
    d["masked"] = np.ma.masked_array([1, 2, 3], mask=[0, 1, 0])
    d["record"] = np.rec.fromrecords([(1, 2.0)], names="a,b")
    d["structured"] = np.zeros(2, dtype=[("x", "<i4"), ("y", "<f8", (2,))])
    d["chararray"] = np.char.array([b"ab", b"c"])
    d["float16"] = np.array([1.5], dtype=np.float16)
    d["longdouble"] = np.array([1.5], dtype=np.longdouble)
    d["poly1d"] = np.poly1d([1.0, 2.0])
    d["scalar_f"] = np.float64(1.5)
    d["scalar_i"] = np.int32(7)
    d["scalar_s"] = np.str_(u"x")
    d["scalar_t"] = np.datetime64("2020-01-01")
    d["scalar_v"] = np.zeros(1, dtype=[("a", "<i4")])[0]
    d["dtype"] = np.dtype("float32")
    d["random_state"] = np.random.RandomState(1)
    if hasattr(np.random, "default_rng"):
        d["generator"] = np.random.default_rng(2)
    d["objects"] = objects()
    d["plain"] = {"set": set([1, 2]), "frozenset": frozenset([3]), "complex": 1j,
                  "datetime": datetime.datetime(2020, 1, 2, 3, 4, 5),
                  "bytearray": bytearray(b"ab"), "slice": slice(1, 5, 2)}
    return d


def estimators():
    """Small fitted estimators of the kinds people ship (trees, forests, boosting,
    neighbours with their KD/ball trees, SVMs, networks, text and preprocessing)."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.ensemble import (GradientBoostingClassifier, IsolationForest,
                                  RandomForestClassifier)
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import OneHotEncoder
    from sklearn.svm import SVC

    rs = np.random.RandomState(0)
    x = rs.rand(40, 3)
    y = (x[:, 0] > 0.5).astype(int)
    old = sklearn.__version__ < "0.22"
    lr = {"solver": "liblinear"} if old else {}
    out = collections.OrderedDict([
        ("logistic", LogisticRegression(**lr).fit(x, y)),
        ("tree", DecisionTreeClassifier(max_depth=2, random_state=0).fit(x, y)),
        ("pipeline", Pipeline([("scale", StandardScaler()),
                               ("clf", LogisticRegression(**lr))]).fit(x, y)),
        ("forest", RandomForestClassifier(n_estimators=2, max_depth=2,
                                          random_state=0).fit(x, y)),
        ("boosting", GradientBoostingClassifier(n_estimators=2, max_depth=2,
                                                random_state=0).fit(x, y)),
        ("isolation", IsolationForest(n_estimators=2, max_samples=16,
                                      random_state=0).fit(x)),
        ("kd_tree", KNeighborsClassifier(3, algorithm="kd_tree").fit(x, y)),
        ("ball_tree", KNeighborsClassifier(3, algorithm="ball_tree").fit(x, y)),
        ("svc", SVC(gamma="scale").fit(x, y)),
        ("mlp", MLPClassifier((4,), max_iter=20, random_state=0).fit(x, y)),
        ("naive_bayes", GaussianNB().fit(x, y)),
        ("kmeans", KMeans(2, n_init=2, random_state=0).fit(x)),
        ("pca", PCA(2).fit(x)),
        ("one_hot", OneHotEncoder().fit([["a"], ["b"]])),
        ("tfidf", TfidfVectorizer().fit([u"a model file", u"a benign file"])),
    ])
    try:
        from sklearn.ensemble import HistGradientBoostingClassifier
    except ImportError:
        pass
    else:
        out["hist_boosting"] = HistGradientBoostingClassifier(max_iter=2).fit(x, y)
    return out


def compressors():
    """joblib's compressors in this version: (name, `compress=` value)."""
    out = [("raw", 0), ("zlib", 3)]
    have = getattr(joblib, "__version__", "0") >= "0.10"
    if have:
        names = ["gzip", "bz2"]
        if sys.version_info[0] >= 3:  # joblib has no lzma on Python 2
            names += ["lzma", "xz"]
        if HAVE_LZ4 and joblib.__version__ >= "0.12":
            names.append("lz4")
        out += [(n, (n, 3)) for n in names]
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "tests/data/benign"
    out = os.path.join(root, tag())
    if not os.path.isdir(out):
        os.makedirs(out)

    def path(name):
        return os.path.join(out, name)

    np.save(path("arrays.npy"), np.arange(6, dtype=np.float32).reshape(2, 3))
    np.save(path("objects.npy"), objects())
    np.save(path("structured_objects.npy"),
            np.array([(1, u"a"), (2, None)], dtype=[("n", "<i4"), ("o", "O")]))
    np.savez_compressed(path("objects.npz"), a=objects(), b=np.arange(3))

    data = arrays()
    models = estimators()
    for protocol in sorted(set([0, 2, pickle.HIGHEST_PROTOCOL])):
        with io.open(path("arrays_p{0}.pkl".format(protocol)), "wb") as f:
            pickle.dump(data, f, protocol=protocol)
    with io.open(path("models.pkl"), "wb") as f:
        pickle.dump(models, f, protocol=pickle.HIGHEST_PROTOCOL)

    # every estimator through joblib's array layout once (zlib, to keep the file small);
    # each other compressor on less
    small = {"logistic": models["logistic"], "arrays": data}
    for name, compress in compressors():
        payload = {"models": models, "arrays": data} if name == "zlib" else small
        joblib.dump(payload, path("dump_{0}.joblib".format(name)), compress=compress)
    # the name a user gives is kept whatever the compression
    joblib.dump(models["logistic"], path("logistic_compress3.pkl"), compress=3)
    print("wrote", out)


if __name__ == "__main__":
    main()
