#!/usr/bin/env bash
# Writes N valid, varied orders as JSON Lines to stdout.
#   gen_orders.sh PREFIX N [SEED_PREFIX FOLLOWUPS]
# Channels, SKUs, premier support, trials and government flags vary by index;
# with SEED_PREFIX, FOLLOWUPS renewals, true_forwards and reissues (each) of the
# already signed orders SEED_PREFIX-0 ... are added.
set -euo pipefail
prefix=$1 n=$2 seed=${3:-} follow=${4:-0}
awk -v P="$prefix" -v N="$n" -v S="$seed" -v F="$follow" 'BEGIN {
  split("professional enterprise advanced entry E10 E20", skus, " ")
  for (i = 0; i < N; i++) {
    sku = skus[i % 6 + 1]
    ch = i % 3 == 0 ? "direct" : (i % 3 == 1 ? "reseller" : "government")
    extra = ""
    if (ch != "direct") extra = extra ",\"reseller\":{\"id\":\"r" (i % 17) "\",\"name\":\"Reseller " (i % 17) "\"}"
    if (ch == "government") extra = extra ",\"government\":true"
    if ((sku == "enterprise" || sku == "E20") && i % 10 == 0) extra = extra ",\"premier_support\":true"
    if (i % 50 == 7) extra = extra ",\"trial\":true"
    printf "{\"manifest_version\":1,\"order_id\":\"%s-%d\",\"kind\":\"new\",\"channel\":\"%s\"%s,", P, i, ch, extra
    printf "\"customer\":{\"id\":\"c%d\",\"name\":\"Customer %d\",\"email\":\"it%d@example.com\",\"company\":\"Company %d\"},", i, i, i, i
    printf "\"sku\":\"%s\",\"seats\":%d,\"starts_at\":\"2026-12-01\",\"expires_at\":\"2027-12-01\",\"po_number\":\"PO-%d\"}\n", sku, 10 + i % 990, i
  }
  for (j = 0; j < F; j++) {
    # The seeds are orders 0 .. 3F-1 of gen_orders.sh SEED_PREFIX (same index rules).
    for (k = 0; k < 3; k++) {
      i = 3 * j + k
      sku = skus[i % 6 + 1]
      ch = i % 3 == 0 ? "direct" : (i % 3 == 1 ? "reseller" : "government")
      extra = ""
      if (ch != "direct") extra = extra ",\"reseller\":{\"id\":\"r" (i % 17) "\",\"name\":\"Reseller " (i % 17) "\"}"
      if (ch == "government") extra = extra ",\"government\":true"
      cust = "\"customer\":{\"id\":\"c" i "\",\"name\":\"Customer " i "\",\"email\":\"it" i "@example.com\",\"company\":\"Company " i "\"}"
      if (k == 0) { kind = "renewal"; dates = "\"seats\":" (20 + i % 990) ",\"starts_at\":\"2027-12-01\",\"expires_at\":\"2028-12-01\"" }
      if (k == 1) { kind = "true_forward"; dates = "\"seats\":5,\"starts_at\":\"2027-03-01\",\"expires_at\":\"2027-12-01\"" }
      # A reissue and a true_forward keep the terms of the license they supersede,
      # the trial flag among them.
      if (k >= 1 && i % 50 == 7) extra = extra ",\"trial\":true"
      if (k == 2) { kind = "reissue"; dates = "\"seats\":" (10 + i % 990) ",\"starts_at\":\"2026-12-01\",\"expires_at\":\"2027-12-01\",\"reason\":\"server rebuilt\"" }
      printf "{\"manifest_version\":1,\"order_id\":\"%s-F%d\",\"kind\":\"%s\",\"supersedes\":\"order:%s-%d\",\"channel\":\"%s\"%s,%s,\"sku\":\"%s\",%s}\n", P, i, kind, S, i, ch, extra, cust, sku, dates
    }
  }
}'
