#!/usr/bin/env python3
"""HitCast's explanations against shap's TreeExplainer, on the same trees and rows.

Loads HitCast's forest and boost artifacts into shap through its documented custom-tree
dictionary format (children_left/right/default, features, thresholds, values,
node_sample_weight = HitCast's node covers), explains the Billboard holdout rows with
path-dependent TreeSHAP, and compares with `hitcast explain` on the same rows (its
data/explanations.csv). Also times shap on 10,000 holdout rows (repeated to 10k if smaller).

Usage (see docs/benchmarks.md):

    target/release/hitcast train --data BB.csv --split-file split.csv --models /tmp/bb-models
    /tmp/peer/bin/python benches/shap_oracle.py --data BB.csv --split split.csv \
        --models /tmp/bb-models --hitcast target/release/hitcast

Needs numpy, pandas and shap (pip install shap into the peer's venv).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd
import shap


def shap_model(artifact, scale, base_offset):
    """A HitCast artifact's trees as shap's custom-model dict."""
    trees = []
    for t in artifact["model"]["trees"]:
        left = np.array(t["left"], dtype=np.int32)
        leaf = left == 0
        n = len(left)
        children_left = np.where(leaf, -1, left).astype(np.int32)
        children_right = np.where(leaf, -1, left + 1).astype(np.int32)
        value = np.array(t["value"], dtype=np.float64)
        if "cover" not in t:
            sys.exit("the artifact has no node covers: retrain with this hitcast")
        trees.append(
            {
                "children_left": children_left,
                "children_right": children_right,
                # HitCast sends NaN left; it explains finite values only.
                "children_default": children_left.copy(),
                "features": np.where(leaf, -2, np.array(t["feature"])).astype(np.int32),
                "thresholds": np.where(leaf, 0.0, value),
                "values": (np.where(leaf, value, 0.0) * scale).reshape(n, 1),
                "node_sample_weight": np.array(t["cover"], dtype=np.float64),
            }
        )
    return {"trees": trees, "base_offset": base_offset, "tree_output": "raw_value",
            "input_dtype": np.float64, "internal_dtype": np.float64}


def logit(p):
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return np.log(p / (1 - p))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", required=True, help="split.csv with row, is_test")
    ap.add_argument("--models", required=True)
    ap.add_argument("--hitcast", default="target/release/hitcast")
    ap.add_argument("--rows", type=int, default=10_000, help="rows timed in shap")
    ap.add_argument("--limit", type=int, default=0, help="compare only the first N holdout rows")
    args = ap.parse_args()

    data = pd.read_csv(args.data)
    split = pd.read_csv(args.split)
    holdout = data.iloc[split.loc[split["is_test"] == 1, "row"].to_numpy()]
    if args.limit:
        holdout = holdout.iloc[: args.limit]
    tmp = tempfile.mkdtemp()
    holdout_csv = os.path.join(tmp, "holdout.csv")
    holdout.to_csv(holdout_csv, index=False)
    out_csv = os.path.join(tmp, "explanations.csv")
    subprocess.run([args.hitcast, "explain", holdout_csv, "--models", args.models,
                    "--out", out_csv, "--show", "0"], check=True)
    ours = pd.read_csv(out_csv)

    report = {"holdout_rows": len(holdout)}
    for family in ["forest", "boost"]:
        with open(os.path.join(args.models, f"model_{family}.json")) as f:
            artifact = json.load(f)
        names = artifact["feature_names"]
        x = holdout[names].to_numpy(dtype=np.float64)
        n_trees = len(artifact["model"]["trees"])
        if family == "forest":
            model = shap_model(artifact, 1.0 / n_trees, 0.0)
        else:
            model = shap_model(artifact, 1.0, artifact["model"]["base_score"])
        explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
        values = explainer.shap_values(x)
        values = np.asarray(values).reshape(len(x), len(names))
        base = float(np.ravel(explainer.expected_value)[0])
        mine = ours[ours["model"] == family]
        mine_phi = mine[[f"shap_{f}" for f in names]].to_numpy()
        if family == "forest":
            # shap explains the forest's probability; HitCast reports log-odds contributions
            # scaled by one documented factor per row (src/explain/mod.rs).
            p = mine["probability"].to_numpy()
            total = values.sum(axis=1)
            exact = np.abs(p - base) > 1e-9
            q = np.clip(p, 1e-15, 1 - 1e-15)
            factor = np.where(exact, (logit(p) - logit(base)) / np.where(total == 0, 1, total),
                              1 / (q * (1 - q)))
            values_log_odds = values * factor[:, None]
            base_log_odds = logit(base)
            report[family] = {
                "max_abs_diff_probability_space_additivity": float(
                    np.max(np.abs(base + total - p))),
                "max_abs_diff_log_odds": float(np.max(np.abs(values_log_odds - mine_phi))),
                "base_diff": float(abs(base_log_odds - mine["base"].iloc[0])),
            }
        else:
            report[family] = {
                "max_abs_diff_log_odds": float(np.max(np.abs(values - mine_phi))),
                "base_diff": float(abs(base - mine["base"].iloc[0])),
            }
        # Timing: the same trees, `--rows` holdout rows (repeated when fewer), one process.
        reps = np.resize(np.arange(len(x)), args.rows)
        big = x[reps]
        best = []
        for _ in range(3):
            t = time.perf_counter()
            explainer.shap_values(big)
            best.append(time.perf_counter() - t)
        one = []
        for i in range(50):
            t = time.perf_counter()
            explainer.shap_values(x[i:i + 1])
            one.append(time.perf_counter() - t)
        report[family]["shap_rows"] = args.rows
        report[family]["shap_seconds_median_of_3"] = sorted(best)[1]
        report[family]["shap_one_track_ms_median"] = 1000 * sorted(one)[len(one) // 2]
        report[family]["trees"] = n_trees
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
