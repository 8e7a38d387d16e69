-- wrk script: single predictions against `hitcast serve`.
-- wrk -t1 -c16 -d15s --latency -s benches/load.lua http://127.0.0.1:8599/api/predict
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"features":{"danceability":0.71,"energy":0.64,"valence":0.5,"tempo":121.0}}'

done = function(summary, latency, requests)
  io.write(string.format("requests %d, errors %d (status %d, timeout %d), %.0f req/s, p50 %.2f ms, p99 %.2f ms\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, summary.errors.timeout,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
