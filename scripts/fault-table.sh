#!/usr/bin/env bash
# The fault table of model delivery: runs the fault-injection suite (pipeline/tests/delivery_faults.rs,
# a real misbehaving HTTP server on 127.0.0.1), each test writing its row, then gathers the rows into
# docs/delivery-faults.md. A failing test fails this script and leaves the doc as it was.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
rows=target/tmp/delivery-faults
rm -rf "$rows"
cargo test --locked -q -p pipeline --test delivery_faults -- --test-threads 2
out=docs/delivery-faults.md
{
  echo "# Model delivery under faults"
  echo
  echo "Made by \`scripts/fault-table.sh\` on $(date -u +%Y-%m-%d): each row is one test of"
  echo "\`pipeline/tests/delivery_faults.rs\`, run against a real HTTP server on 127.0.0.1 that misbehaves on"
  echo "purpose (\`pipeline/tests/support/fault_server.rs\`). Before each fault the cache serves model A"
  echo "(sequence 1); the store then offers model B (sequence 2) or the fault's manifest. After every check the"
  echo "test proves that the model serving is a signed one whose bytes hash to its manifest, that it loads"
  echo "through ONNX Runtime and passes the self-test, and that no partial or temporary file is left in the"
  echo "cache. Test settings: idle timeout 0.8 s, 4 tries without progress, backoff from 20 ms, Retry-After"
  echo "honoured up to 5 s."
  echo
  echo "\`updated\`/\`up_to_date\` exit 0 in \`pipeline fetch-model --json\`; \`rejected\` (what the store"
  echo "offers is refused) and \`failed\` (it could not be read) exit non-zero and leave the serving model as it was."
  echo
  echo "| fault | outcome | reason (the public error) | serving after the check | s |"
  echo "| --- | --- | --- | --- | ---: |"
  cat $(ls "$rows"/*.md | sort)
  echo
  echo "Nothing else was ever installed: in every row the serving model is A, or B after a recovered fault."
} > "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out"
