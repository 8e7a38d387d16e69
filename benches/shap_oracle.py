#!/usr/bin/env python3
"""HitCast's explanations against shap's TreeExplainer, on the same trees and rows.

Loads HitCast's forest and boost artifacts into shap through its documented custom-tree
dictionary format (children_left/right/default, features, thresholds, values,
node_sample_weight = HitCast's node covers), explains Billboard holdout rows with
path-dependent TreeSHAP, and compares with `hitcast explain` on the same rows (its
explanations CSV): the max absolute difference of every feature's contribution and of the
base value, per model. Then times shap on `--rows` holdout rows (repeated when fewer) in
CPU seconds (time.process_time; shap's C++ TreeSHAP runs on one thread) and wall seconds.

Conventions checked against shap 0.51's source: shap goes left when `x <= threshold`
(threshold_types 0, tree_shap.h), as HitCast does (src/model/tree.rs); shap recomputes every
internal node's value as the cover-weighted mean of its children (compute_expectations), so
internal values may be given as 0 and its base value is Σ E[tree] + base_offset.

Usage (see docs/benchmarks.md):

    target/release/hitcast train --data BB.csv --split-file split.csv --models /tmp/bb-models
    /tmp/peer/bin/python benches/shap_oracle.py --data BB.csv --split split.csv \
        --models /tmp/bb-models --hitcast target/release/hitcast --limit 0 \
        --rows forest=500,boost=10000 --json-out /tmp/shap-oracle.json

`--limit 0` compares every holdout row (about 11 CPU minutes of shap for the 300-tree
forest); `--rows forest=0,boost=0` skips the timing passes.

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
                # Internal values are recomputed by shap from the covers.
                "values": (np.where(leaf, value, 0.0) * scale).reshape(n, 1),
                "node_sample_weight": np.array(t["cover"], dtype=np.float64),
            }
        )
    return {"trees": trees, "base_offset": base_offset, "tree_output": "raw_value",
            "input_dtype": np.float64, "internal_dtype": np.float64}


def logit(p):
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return np.log(p / (1 - p))


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def timed(f):
    """(result, CPU seconds of this process, wall seconds)."""
    c, w = time.process_time(), time.perf_counter()
    r = f()
    return r, time.process_time() - c, time.perf_counter() - w


def per_feature_max(a, b, names):
    d = np.abs(a - b)
    return {n: float(d[:, j].max()) for j, n in enumerate(names)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", required=True, help="split.csv with row, is_test")
    ap.add_argument("--models", required=True)
    ap.add_argument("--hitcast", default="target/release/hitcast")
    ap.add_argument("--rows", default="forest=500,boost=10000",
                    help="rows timed in shap: N for both, or per model as forest=500,boost=10000 (0 skips)")
    ap.add_argument("--repeats", type=int, default=3, help="timed passes (median reported)")
    ap.add_argument("--limit", type=int, default=0,
                    help="compare only the first N holdout rows (0: all of them)")
    ap.add_argument("--families", default="forest,boost")
    ap.add_argument("--json-out", help="also write the report here")
    ap.add_argument("--dump", help="write per-row values to DUMP_<family>.npz")
    args = ap.parse_args()
    if args.rows.isdigit():
        timed_rows = {"forest": int(args.rows), "boost": int(args.rows)}
    else:
        timed_rows = {k: int(v) for k, v in (kv.split("=") for kv in args.rows.split(","))}
    families = args.families.split(",")

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

    report = {"holdout_rows": len(holdout), "shap": shap.__version__, "numpy": np.__version__,
              "pandas": pd.__version__, "load_average": list(os.getloadavg())}
    for family in families:
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
        values, cpu, wall = timed(lambda: explainer.shap_values(x))
        values = np.asarray(values).reshape(len(x), len(names))
        base = float(np.ravel(explainer.expected_value)[0])
        mine = ours[ours["model"] == family]
        if len(mine) != len(x):
            sys.exit(f"{family}: hitcast explained {len(mine)} rows, shap {len(x)}")
        mine_phi = mine[[f"shap_{f}" for f in names]].to_numpy()
        mine_base = mine["base"].to_numpy()
        # shap's own prediction of the same trees, to check the rows line up.
        shap_pred = explainer.model.predict(x).reshape(-1)
        r = {"trees": n_trees, "compared_rows": len(x),
             "shap_compare_pass_cpu_s_per_row": cpu / len(x),
             "shap_compare_pass_wall_s_per_row": wall / len(x)}
        if family == "forest":
            # shap explains the forest's probability; HitCast reports log-odds contributions
            # scaled by one documented factor per row (src/explain/mod.rs).
            p = mine["probability"].to_numpy()
            total = values.sum(axis=1)
            exact = np.abs(p - base) > 1e-9
            q = np.clip(p, 1e-15, 1 - 1e-15)
            # The factor from p − b (= Σψ, exactly so for HitCast up to rounding), not from
            # shap's Σψ: shap's own rounding in Σψ (~1e-13) divided by a small p − b would
            # swamp the comparison on rows whose probability is near the base.
            factor = np.where(exact, (logit(p) - logit(base)) / np.where(exact, p - base, 1),
                              1 / (q * (1 - q)))
            values_log_odds = values * factor[:, None]
            factor_shap_sum = np.where(
                exact, (logit(p) - logit(base)) / np.where(total == 0, 1, total), factor)
            # And back: HitCast's probability-space values from its own outputs only
            # (Σψ = p − b, Σφ = logit p − logit b).
            b = sigmoid(mine_base)
            sum_phi = mine_phi.sum(axis=1)
            back = np.where(np.abs(p - b) > 1e-9, (p - b) / np.where(sum_phi == 0, 1, sum_phi),
                            q * (1 - q))
            mine_psi = mine_phi * back[:, None]
            r.update({
                "max_abs_diff_log_odds": float(np.max(np.abs(values_log_odds - mine_phi))),
                "max_abs_diff_log_odds_per_feature": per_feature_max(values_log_odds, mine_phi,
                                                                     names),
                "base_diff_log_odds": float(np.max(np.abs(logit(base) - mine_base))),
                "max_abs_diff_probability": float(np.max(np.abs(values - mine_psi))),
                "max_abs_diff_probability_per_feature": per_feature_max(values, mine_psi, names),
                "base_diff_probability": float(np.max(np.abs(base - b))),
                # A factor from shap's Σψ is ill-conditioned where p is near the base: shown
                # for reference, over all rows and over those at least 1e-3 away.
                "rows_within_1e-3_of_base": int(np.sum(np.abs(p - base) < 1e-3)),
                "max_abs_diff_log_odds_factor_from_shap_sum": float(
                    np.max(np.abs(values * factor_shap_sum[:, None] - mine_phi))),
                "max_abs_diff_log_odds_factor_from_shap_sum_rows_away_from_base": float(np.max(
                    np.abs(values * factor_shap_sum[:, None] - mine_phi)[np.abs(p - base) >= 1e-3],
                    initial=0.0)),
                "shap_additivity_vs_hitcast_probability": float(np.max(np.abs(base + total - p))),
                "shap_predict_vs_hitcast_probability": float(np.max(np.abs(shap_pred - p))),
                "max_abs_contribution_log_odds": float(np.max(np.abs(mine_phi))),
            })
        else:
            lo = mine["log_odds"].to_numpy()
            r.update({
                "max_abs_diff_log_odds": float(np.max(np.abs(values - mine_phi))),
                "max_abs_diff_log_odds_per_feature": per_feature_max(values, mine_phi, names),
                "base_diff_log_odds": float(np.max(np.abs(base - mine_base))),
                "shap_additivity_vs_hitcast_log_odds": float(
                    np.max(np.abs(base + values.sum(axis=1) - lo))),
                "shap_predict_vs_hitcast_log_odds": float(np.max(np.abs(shap_pred - lo))),
                "max_abs_contribution_log_odds": float(np.max(np.abs(mine_phi))),
            })
        # Timing: the same trees, holdout rows repeated to the requested count, one process.
        n_time = timed_rows.get(family, 0)
        if n_time:
            big = x[np.resize(np.arange(len(x)), n_time)]
            passes = [timed(lambda: explainer.shap_values(big, check_additivity=False))[1:]
                      for _ in range(max(1, args.repeats))]
            cpu_s = sorted(c for c, _ in passes)[len(passes) // 2]
            wall_s = sorted(w for _, w in passes)[len(passes) // 2]
            one = [timed(lambda: explainer.shap_values(x[i % len(x):i % len(x) + 1],
                                                       check_additivity=False))[1:]
                   for i in range(50)]
            r.update({
                "shap_timed_rows": n_time,
                "shap_timed_passes": len(passes),
                "shap_cpu_s_median": cpu_s,
                "shap_wall_s_median": wall_s,
                "shap_cpu_ms_per_row": 1000 * cpu_s / n_time,
                "shap_wall_ms_per_row": 1000 * wall_s / n_time,
                "shap_one_track_cpu_ms_median": 1000 * sorted(c for c, _ in one)[25],
                "shap_one_track_wall_ms_median": 1000 * sorted(w for _, w in one)[25],
            })
        if args.dump:
            np.savez_compressed(f"{args.dump}_{family}.npz", shap=values, hitcast=mine_phi,
                                hitcast_base=mine_base, shap_base=base,
                                probability=mine["probability"].to_numpy())
        report[family] = r
        print(f"{family}: done (load average {os.getloadavg()})", file=sys.stderr, flush=True)
    report["load_average_end"] = list(os.getloadavg())
    text = json.dumps(report, indent=2)
    print(text)
    if args.json_out:
        with open(args.json_out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
