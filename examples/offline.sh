#!/usr/bin/env bash
# Seal, inspect, validate and recover a Secret with no cluster at all.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet -p kage-cli
kage=target/debug/kage
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== kage keygen: a cluster key and an offline recovery key"
cluster=$($kage keygen -o "$work/cluster.key")
recovery=$($kage keygen -o "$work/recovery.key")
echo "cluster recipient:  $cluster"
echo "recovery recipient: $recovery"

echo "== kage seal examples/secret.yaml"
$kage seal -f examples/secret.yaml -r "$cluster" --recovery "$recovery" -w "$work/sealed.yaml"
cat "$work/sealed.yaml"

echo "== kage inspect (no key needed)"
$kage inspect -f "$work/sealed.yaml"

echo "== kage validate"
$kage validate "$work"

echo "== kage unseal with the recovery key only"
$kage unseal -i "$work/recovery.key" -f "$work/sealed.yaml"
