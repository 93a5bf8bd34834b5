#!/usr/bin/env python3
"""Generate examples/loyal_customer.ipynb (committed without outputs).

    .venv/bin/python examples/make_example.py
"""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

INTRO = """\
# Loyal customer model

Which customers will come back and buy again? This notebook trains a small model that flags
**loyal customers**: users who make at least `LABEL_BUY_COUNT` purchases in the `LABEL_DAY_RANGE`
days after a cut-off, predicted from their activity in the `FEATURE_DAY_RANGE` days before it.

Steps:

1. load `DATA_DAY_RANGE` days of shop events (here: synthetic `view` / `cart` / `purchase` events,
   reproducible from `SEED`);
2. build per-user features and labels;
3. train a gradient-boosting classifier and report its metrics, confusion matrix and feature importances
   (accuracy, precision and recall are recorded with scrapbook, so nbgate charts them across runs);
4. score every user on their most recent activity and append the predictions to
   `OUTPUT_DIR/generated_sync_date=YYYY-MM-DD/predictions.csv`.

The cell tagged `parameters` holds the knobs. Run it headless with, e.g.

```
nbgate run loyal_customer.ipynb out.ipynb -p DATA_DAY_RANGE 90 -p LABEL_BUY_COUNT 2
```
"""

PARAMETERS = """\
DATA_DAY_RANGE = 60  # days of events used for the model
FEATURE_DAY_RANGE = 7  # window of recent activity used as features
LABEL_DAY_RANGE = 45  # window after the feature cut-off in which purchases are counted
LABEL_BUY_COUNT = 3  # purchases in the label window that make a customer "loyal"
OUTPUT_DIR = "output"  # where the predictions are written (relative to the working directory)
SEED = 42  # random seed for the synthetic data and the model"""

IMPORTS = """\
import datetime as dt
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scrapbook as sb
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import train_test_split

assert FEATURE_DAY_RANGE > 0 and LABEL_DAY_RANGE > 0 and LABEL_BUY_COUNT > 0
assert DATA_DAY_RANGE >= FEATURE_DAY_RANGE + LABEL_DAY_RANGE, (
    f"DATA_DAY_RANGE ({DATA_DAY_RANGE}) must cover FEATURE_DAY_RANGE + LABEL_DAY_RANGE "
    f"({FEATURE_DAY_RANGE + LABEL_DAY_RANGE})"
)
plt.rcParams["figure.dpi"] = 80
SYNC_DATE = dt.date.today()
print(f"sync date {SYNC_DATE}, {DATA_DAY_RANGE} days of data")"""

DATA_MD = """\
## 1. Events

Each synthetic user has a latent daily activity rate and a latent taste for buying; both drift slowly over
time. One row per event: `user_id`, `event_date`, `event_type`, `price` (purchases only)."""

DATA = """\
rng = np.random.default_rng(SEED)
N_USERS = 2000

activity = rng.gamma(shape=0.8, scale=0.6, size=N_USERS)  # expected events per day
buy_taste = rng.beta(2, 12, size=N_USERS)  # share of events that are purchases
drift = rng.normal(0.0, 0.004, size=N_USERS)  # slow change of the buying taste per day

days = np.arange(DATA_DAY_RANGE)  # day 0 is the oldest, DATA_DAY_RANGE - 1 is yesterday
rate = activity[:, None] * (1 + 0.25 * np.sin(2 * np.pi * days / 7))[None, :]  # weekly seasonality
counts = rng.poisson(rate)  # events per (user, day)
user_idx, day_idx = np.nonzero(counts)
reps = counts[user_idx, day_idx]
ev_user = np.repeat(user_idx, reps)
ev_day = np.repeat(day_idx, reps)

p_buy = np.clip(buy_taste[ev_user] + drift[ev_user] * ev_day, 0.005, 0.9)
p_cart = np.clip(2.0 * p_buy, 0.01, 0.95 - p_buy)
u = rng.random(ev_user.size)
ev_type = np.where(u < p_buy, "purchase", np.where(u < p_buy + p_cart, "cart", "view"))
price = np.where(ev_type == "purchase", np.round(rng.lognormal(3.2, 0.6, ev_user.size), 2), np.nan)

first_day = SYNC_DATE - dt.timedelta(days=DATA_DAY_RANGE)
events = pd.DataFrame(
    {
        "user_id": ev_user + 100_000,
        "day": ev_day,
        "event_date": pd.to_datetime(first_day) + pd.to_timedelta(ev_day, unit="D"),
        "event_type": ev_type,
        "price": price,
    }
)
print(f"{len(events):,} events from {events.user_id.nunique():,} users")
events.event_type.value_counts().to_frame("events")"""

FEATURES_MD = """\
## 2. Features and label

The cut-off is `LABEL_DAY_RANGE` days before the end of the data. Features come from the
`FEATURE_DAY_RANGE` days before the cut-off; the label counts purchases in the `LABEL_DAY_RANGE` days
from the cut-off on."""

FEATURES = """\
FEATURES = [
    "views",
    "carts",
    "purchases",
    "revenue",
    "active_days",
    "days_since_last_event",
    "cart_rate",
    "purchase_rate",
]


def features(ev, start, end):
    \"\"\"Per-user features from the events with start <= day < end, for every user.\"\"\"
    w = ev[(ev.day >= start) & (ev.day < end)]
    counts = pd.crosstab(w.user_id, w.event_type).reindex(columns=["view", "cart", "purchase"], fill_value=0)
    f = pd.DataFrame(index=pd.Index(np.arange(N_USERS) + 100_000, name="user_id"))
    f["views"] = counts["view"]
    f["carts"] = counts["cart"]
    f["purchases"] = counts["purchase"]
    f["revenue"] = w.groupby("user_id").price.sum()
    f["active_days"] = w.groupby("user_id").day.nunique()
    f["days_since_last_event"] = end - w.groupby("user_id").day.max()
    f = f.fillna({"days_since_last_event": end - start + 1}).fillna(0)
    total = f[["views", "carts", "purchases"]].sum(axis=1)
    f["cart_rate"] = (f.carts / total).fillna(0)
    f["purchase_rate"] = (f.purchases / total).fillna(0)
    return f[FEATURES]


cutoff = DATA_DAY_RANGE - LABEL_DAY_RANGE
X = features(events, cutoff - FEATURE_DAY_RANGE, cutoff)
label_window = events[(events.day >= cutoff) & (events.day < cutoff + LABEL_DAY_RANGE)]
purchases_after = label_window[label_window.event_type == "purchase"].groupby("user_id").size()
y = (purchases_after.reindex(X.index, fill_value=0) >= LABEL_BUY_COUNT).astype(int).rename("label")
print(f"cut-off day {cutoff}: {y.mean():.1%} of {len(y):,} users are loyal (>= {LABEL_BUY_COUNT} purchases)")
X.describe().round(2)"""

MODEL_MD = "## 3. Model"

MODEL = """\
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=SEED, stratify=y)
model = GradientBoostingClassifier(n_estimators=150, max_depth=3, learning_rate=0.05, random_state=SEED)
model.fit(X_train, y_train)

proba_test = model.predict_proba(X_test)[:, 1]
pred_test = (proba_test >= 0.5).astype(int)
metrics = {
    "accuracy": accuracy_score(y_test, pred_test),
    "precision": precision_score(y_test, pred_test, zero_division=0),
    "recall": recall_score(y_test, pred_test, zero_division=0),
    "f1": f1_score(y_test, pred_test, zero_division=0),
    "roc_auc": roc_auc_score(y_test, proba_test),
}
for name, value in metrics.items():
    print(f"{name:>9}: {value:.3f}")
# Recorded values: nbgate keeps them per execution and charts them across a schedule's runs.
for name in ("accuracy", "precision", "recall"):
    sb.glue(name, float(metrics[name]))
print()
print(classification_report(y_test, pred_test, target_names=["not loyal", "loyal"], zero_division=0))"""

PLOTS = """\
fig, ax = plt.subplots(figsize=(4.5, 4))
ConfusionMatrixDisplay(confusion_matrix(y_test, pred_test), display_labels=["not loyal", "loyal"]).plot(
    ax=ax, cmap="Blues", colorbar=False
)
ax.set_title("Confusion matrix (test set)")
plt.show()

importance = pd.Series(model.feature_importances_, index=FEATURES).sort_values()
fig, ax = plt.subplots(figsize=(6, 3.5))
importance.plot.barh(ax=ax, color="tab:green")
ax.set_title("Feature importance")
ax.set_xlabel("importance")
fig.tight_layout()
plt.show()"""

SCORE_MD = """\
## 4. Score and write predictions

Every user is scored on their latest `FEATURE_DAY_RANGE` days; `label` is the predicted class and
`predict_proba` the predicted probability of being loyal over the next `LABEL_DAY_RANGE` days. Rows are
appended to a CSV partitioned by sync date."""

SCORE = """\
X_now = features(events, DATA_DAY_RANGE - FEATURE_DAY_RANGE, DATA_DAY_RANGE)
proba_now = model.predict_proba(X_now)[:, 1]
predictions = pd.DataFrame(
    {
        "user_id": X_now.index,
        "label": (proba_now >= 0.5).astype(int),
        "predict_proba": proba_now.round(6),
        "generated_sync_date": SYNC_DATE.isoformat(),
    }
)

partition = os.path.join(OUTPUT_DIR, f"generated_sync_date={SYNC_DATE.isoformat()}")
os.makedirs(partition, exist_ok=True)
path = os.path.join(partition, "predictions.csv")
predictions.to_csv(path, mode="a", header=not os.path.exists(path), index=False)
print(f"appended {len(predictions):,} rows ({predictions.label.sum():,} predicted loyal) to {path}")
predictions.sort_values("predict_proba", ascending=False).head(10)"""


def kernel_language_info() -> dict:
    """The kernel's own `language_info`, as JupyterLab writes it into a notebook it opens: shipping the
    same, the example opens unmodified (Lab would otherwise fill it in and ask to save before Execute)."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    try:
        return client.kernel_info(reply=True, timeout=60)["content"]["language_info"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def main() -> None:
    nb = new_notebook()
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
        "language_info": kernel_language_info(),
    }
    cells = [
        new_markdown_cell(INTRO),
        new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
        new_code_cell(IMPORTS),
        new_markdown_cell(DATA_MD),
        new_code_cell(DATA),
        new_markdown_cell(FEATURES_MD),
        new_code_cell(FEATURES),
        new_markdown_cell(MODEL_MD),
        new_code_cell(MODEL),
        new_code_cell(PLOTS),
        new_markdown_cell(SCORE_MD),
        new_code_cell(SCORE),
    ]
    # Stable ids so that regenerating gives an identical file.
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i:02d}"
    nb.cells = cells
    nbformat.validate(nb)
    out = HERE / "loyal_customer.ipynb"
    nbformat.write(nb, str(out))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
