"""Reference outputs of scikit-learn for crates/svm/tests/sklearn_reference.rs.

Run once (scikit-learn 1.9.1, numpy 2.4.6): python sklearn_reference.py
Writes features.npz-like .npy files: a feature matrix of 300 training and 200 test rows of 64
features in four overlapping, non-linearly separated classes (grades), and what scikit-learn's
StandardScaler + SVC(probability=True) and StandardScaler + LogisticRegression give on the test
rows.
"""
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

rng = np.random.default_rng(12)
n, d = 500, 64
grade = rng.choice(4, size=n, p=[0.45, 0.15, 0.15, 0.25])
x = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, size=d) + rng.normal(size=d) * 4
direction = rng.normal(size=(4, d))
x += 0.9 * direction[grade]
# A non-linear cue: grade 3 spreads wider on the first features.
x[:, :8] *= np.where(grade == 3, 1.8, 1.0)[:, None]
x = x.astype(np.float32)
train, test = np.arange(300), np.arange(300, n)
np.save("x_train.npy", x[train])
np.save("y_train.npy", grade[train].astype(np.int64))
np.save("x_test.npy", x[test])
np.save("y_test.npy", grade[test].astype(np.int64))

binary = (grade > 0).astype(np.int64)
configs = {
    "binary_rbf_balanced": (binary, dict(kernel="rbf", C=1.0, gamma="scale", class_weight="balanced")),
    "binary_linear": (binary, dict(kernel="linear", C=0.05, class_weight=None)),
    "grade_rbf_balanced": (grade, dict(kernel="rbf", C=2.0, gamma="scale", class_weight="balanced")),
}
for name, (y, params) in configs.items():
    model = make_pipeline(StandardScaler(), SVC(probability=True, random_state=0, **params))
    model.fit(x[train], y[train])
    np.save(f"{name}_proba.npy", model.predict_proba(x[test]))
    if y.max() == 1:
        np.save(f"{name}_decision.npy", model.decision_function(x[test]))

for name, y in {"binary_logistic": binary, "grade_logistic": grade}.items():
    model = make_pipeline(
        StandardScaler(), LogisticRegression(C=0.5, class_weight="balanced", tol=1e-10, max_iter=10000)
    )
    model.fit(x[train], y[train])
    np.save(f"{name}_proba.npy", model.predict_proba(x[test]))
