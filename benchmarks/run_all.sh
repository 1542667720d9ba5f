#!/usr/bin/env bash
# Run every benchmark; each writes its figures to benchmarks/results_*.md.
# About 20 minutes on 2 cores; use --quick for a shorter pass.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=${1:-}
uv sync --group bench --quiet
uv run --group bench python benchmarks/bench_cli.py
uv run --group bench python benchmarks/bench_io.py ${quick:+--quick}
uv run --group bench python benchmarks/bench_peaks.py ${quick:+--quick}
uv run --group bench python benchmarks/real_peaks.py
uv run --group bench python benchmarks/real_mrm.py
uv run --group bench python benchmarks/noise_measure.py || echo "noise_measure.py: ../shared/data absent, skipped"
uv run --group bench python benchmarks/bench_noise.py ${quick:+--seeds 1}
uv run --group bench python benchmarks/bench_noise_oracle.py ${quick:+--seeds 5 --no-engine}
uv run --group bench python benchmarks/bench_report.py ${quick:+--quick}
uv run --group bench python benchmarks/bench_batch.py ${quick:+--quick}
uv run --group bench python benchmarks/bench_review.py ${quick:+--quick}
uv run --group bench python benchmarks/bench_deps.py ${quick:+--quick}
uv run --group bench python benchmarks/bench_hostile.py
