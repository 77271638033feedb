# Reference values for crates/eval/tests/sklearn_reference.rs, computed once with
# scikit-learn 1.9.1 with numpy 2.4.6 (python3 sklearn_reference.py); the Rust test stores its
# output.
import numpy as np
from sklearn import metrics as m

y_bin = np.array([0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1])
s_bin = np.array([0.1, 0.4, 0.35, 0.8, 0.4, 0.9, 0.2, 0.4, 0.65, 0.7,
                  0.05, 0.55, 0.3, 0.6, 0.95, 0.15, 0.5, 0.5, 0.25, 0.85])
print("auc", repr(m.roc_auc_score(y_bin, s_bin)))
print("ap", repr(m.average_precision_score(y_bin, s_bin)))
print("brier", repr(m.brier_score_loss(y_bin, s_bin)))
fpr, tpr, thr = m.roc_curve(y_bin, s_bin, drop_intermediate=False)
print("roc_fpr", [repr(v) for v in fpr[1:]])
print("roc_tpr", [repr(v) for v in tpr[1:]])
print("roc_thr", [repr(v) for v in thr[1:]])

y4 = np.array([0, 1, 2, 3, 0, 0, 1, 3, 2, 0, 3, 1, 0, 2, 3, 0])
p4 = np.array([
    [0.7, 0.1, 0.1, 0.1], [0.2, 0.5, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4], [0.1, 0.1, 0.2, 0.6],
    [0.4, 0.3, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25], [0.6, 0.2, 0.1, 0.1], [0.05, 0.05, 0.1, 0.8],
    [0.1, 0.1, 0.7, 0.1], [0.3, 0.4, 0.2, 0.1], [0.2, 0.2, 0.3, 0.3], [0.1, 0.6, 0.2, 0.1],
    [0.5, 0.2, 0.2, 0.1], [0.2, 0.2, 0.5, 0.1], [0.1, 0.3, 0.2, 0.4], [0.9, 0.05, 0.03, 0.02]])
pred = p4.argmax(axis=1)
print("pred", list(pred))
print("acc", repr(m.accuracy_score(y4, pred)))
print("bacc", repr(m.balanced_accuracy_score(y4, pred)))
p, r, f, s = m.precision_recall_fscore_support(y4, pred, zero_division=0)
print("precision", [repr(v) for v in p]); print("recall", [repr(v) for v in r]); print("f1", [repr(v) for v in f]); print("support", list(s))
for avg in ["macro", "weighted"]:
    print(avg, [repr(v) for v in m.precision_recall_fscore_support(y4, pred, average=avg, zero_division=0)[:3]])
print("cm", m.confusion_matrix(y4, pred).tolist())
print("ovr", repr(m.roc_auc_score(y4, p4, multi_class="ovr", average="macro")))
print("logloss", repr(m.log_loss(y4, p4)))

# Injured (grade > 0) vs healthy, scored by 1 - P(healthy): the summary's AUC.
print("injured_auc", repr(m.roc_auc_score(y4 > 0, 1 - p4[:, 0])))

# Youden's J with a genuine tie: J = 0.5 at thresholds 0.8 and 0.4; the first maximum along the
# curve (numpy's argmax over descending thresholds) is the highest threshold.
y_tie = np.array([0, 1, 0, 1])
s_tie = np.array([0.2, 0.4, 0.6, 0.8])
fpr, tpr, thr = m.roc_curve(y_tie, s_tie, drop_intermediate=False)
j = tpr - fpr
print("tie_j", [repr(v) for v in j], "thr", [repr(v) for v in thr])
k = int(np.argmax(j))
print("youden_tie", repr(thr[k]), repr(tpr[k]), repr(1 - fpr[k]))

# An asymmetric confusion matrix (precision != recall per class), so swapped axes fail.
y4b = y4.copy()
y4b[[1, 9, 13]] = [2, 3, 1]
print("pred_b", list(pred))
print("cm_b", m.confusion_matrix(y4b, pred).tolist())
p, r, f, s = m.precision_recall_fscore_support(y4b, pred, zero_division=0)
print("precision_b", [repr(v) for v in p]); print("recall_b", [repr(v) for v in r]); print("f1_b", [repr(v) for v in f]); print("support_b", list(s))
print("bacc_b", repr(m.balanced_accuracy_score(y4b, pred)))
