#!/usr/bin/env bash
# fault_bins.sh [BIN]: builds the `pagelog` command and puts into BIN (default
# /tmp/crashcheck/bin) the tool names the fault harness of ../shared/faults/ calls
# (`topics`, `console_producer`, `console_consumer`, `dump`), each a wrapper running the
# `pagelog` subcommand with the same flags. Then run the harness as its README says.
set -euo pipefail
bin=${1:-${BIN:-/tmp/crashcheck/bin}}
cd "$(dirname "$0")/.."
cargo build --release -p pagelog-cli
mkdir -p "$bin"
cp target/release/pagelog "$bin/pagelog"
for pair in topics:topics console_producer:produce console_consumer:consume dump:dump; do
  name=${pair%%:*} sub=${pair#*:}
  printf '#!/bin/sh\nexec "%s/pagelog" %s "$@"\n' "$bin" "$sub" >"$bin/$name"
  chmod +x "$bin/$name"
done
echo "fault harness binaries in $bin"
