#!/usr/bin/env python3
"""The peers of `hitcast bench --peer` on the very rows HitCast uses.

`hitcast bench --rows N --peer` writes the run's data (HitCast's normalised CSV layout) and
its holdout (`row,is_test`, 0-based data rows) into target/bench-peer/ and runs this script
with the Python peer environment of ../shared/bench/python-peer (pandas, scikit-learn,
XGBoost, plus LightGBM):

    /tmp/peer/bin/python benches/peer_scale.py --data target/bench-peer/tracks.csv \
        --split target/bench-peer/split.csv --json-out target/bench-peer/peer.json

It times, on 2 threads each: reading the CSV with pandas plus the checks HitCast's ingest
makes (features present and finite, labels 0/1, repeated ids counted), XGBoost hist and
LightGBM with 300 rounds of depth-4 trees (learning rate 0.1, row subsample 0.8, as
HitCast's boosting in the bench: no early stopping), and each one's holdout ROC AUC; with
--proba-out, each one's holdout probabilities, for HitCast's paired comparison.
"""
import argparse
import json
import resource
import sys
import time

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

FEATURES_ORDER = ["danceability", "energy", "key", "loudness", "mode", "speechiness",
                  "acousticness", "instrumentalness", "liveness", "valence", "tempo",
                  "duration_ms", "time_signature", "chorus_hit", "sections"]


def read_and_check(path):
    """pandas read_csv plus the validation HitCast's ingest does on the same file."""
    t0 = time.perf_counter()
    df = pd.read_csv(path)
    features = [c for c in FEATURES_ORDER if c in df.columns]
    if not features or "target" not in df.columns:
        sys.exit(f"{path}: needs feature columns and `target`")
    x = df[features].apply(pd.to_numeric, errors="coerce")
    bad = ~np.isfinite(x.to_numpy(dtype=float))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        sys.exit(f"{path}: row {r + 1}, column `{features[c]}`: not a finite number")
    y = pd.to_numeric(df["target"], errors="coerce")
    if not y.isin([0, 1]).all():
        sys.exit(f"{path}: column `target` holds values other than 0 and 1")
    repeated = int(df["track_id"].duplicated().sum()) if "track_id" in df.columns else 0
    seconds = time.perf_counter() - t0
    return x.to_numpy(dtype=np.float64), y.to_numpy(dtype=np.int8), features, repeated, seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", required=True)
    ap.add_argument("--json-out", required=True)
    ap.add_argument("--proba-out", help="CSV of each model's holdout probabilities, row order")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=300)
    args = ap.parse_args()

    x, y, features, repeated, read_s = read_and_check(args.data)
    split = pd.read_csv(args.split)
    is_test = np.zeros(len(y), dtype=bool)
    is_test[split["row"].to_numpy()] = split["is_test"].to_numpy() == 1
    xtr, ytr, xte, yte = x[~is_test], y[~is_test], x[is_test], y[is_test]
    out = {
        "rows": int(len(y)), "train_rows": int(len(ytr)), "features": len(features),
        "threads": args.threads, "read_and_check_s": read_s, "repeated_ids": repeated,
        "models": {},
    }

    import xgboost
    from xgboost import XGBClassifier
    t0 = time.perf_counter()
    xgb = XGBClassifier(n_estimators=args.rounds, max_depth=4, learning_rate=0.1,
                        subsample=0.8, colsample_bytree=1.0, tree_method="hist",
                        n_jobs=args.threads, random_state=42, eval_metric="logloss")
    xgb.fit(xtr, ytr)
    fit = time.perf_counter() - t0
    probas = {"xgboost": xgb.predict_proba(xte)[:, 1]}
    out["models"]["xgboost"] = {
        "version": xgboost.__version__, "fit_s": fit,
        "roc_auc": float(roc_auc_score(yte, probas["xgboost"])),
    }

    try:
        import lightgbm
        from lightgbm import LGBMClassifier
    except ImportError:
        lightgbm = None
    if lightgbm is not None:
        t0 = time.perf_counter()
        lgb = LGBMClassifier(n_estimators=args.rounds, max_depth=4, num_leaves=16,
                             learning_rate=0.1, subsample=0.8, subsample_freq=1,
                             colsample_bytree=1.0, n_jobs=args.threads, random_state=42,
                             verbose=-1)
        lgb.fit(xtr, ytr)
        fit = time.perf_counter() - t0
        probas["lightgbm"] = lgb.predict_proba(xte)[:, 1]
        out["models"]["lightgbm"] = {
            "version": lightgbm.__version__, "fit_s": fit,
            "roc_auc": float(roc_auc_score(yte, probas["lightgbm"])),
        }
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.proba_out:
        # repr-exact floats, one column per model, the holdout in row order.
        names = list(probas)
        with open(args.proba_out, "w") as f:
            f.write(",".join(names) + "\n")
            for row in zip(*(probas[n] for n in names)):
                f.write(",".join(repr(float(v)) for v in row) + "\n")
    with open(args.json_out, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
