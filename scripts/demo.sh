#!/usr/bin/env bash
# Placeholder until the CLI lands: builds and shows the crypto layer's tests.
set -euo pipefail
echo "Kindred is being built. For now the demo runs the crypto checks."
ctest --test-dir build -R 'DeviceId|Aead' --output-on-failure
