#!/usr/bin/env bash
# Writes N valid, varied orders as JSON Lines to stdout.
#   gen_orders.sh PREFIX N [SEED_PREFIX FOLLOWUPS]
# Channels, SKUs, premier support, trials and government flags vary by index;
# with SEED_PREFIX, FOLLOWUPS renewals, true_forwards and reissues (each) of the
# already signed orders SEED_PREFIX-0 ... are added.
# The terms start on GEN_START (YYYY-MM-DD, UTC), by default today, and run a
# year, so that the batches sign whatever the date (a true_forward must find
# its license live, a renewal within its grace period).
set -euo pipefail
prefix=$1 n=$2 seed=${3:-} follow=${4:-0}
d0=${GEN_START:-$(date -u +%F)}
d1=$(date -u -d "$d0 +1 year" +%F)
d2=$(date -u -d "$d1 +1 year" +%F)
dtf=$(date -u -d "$d0 +3 months" +%F)
awk -v P="$prefix" -v N="$n" -v S="$seed" -v F="$follow" -v D0="$d0" -v D1="$d1" -v D2="$d2" -v DTF="$dtf" 'BEGIN {
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
    printf "\"sku\":\"%s\",\"seats\":%d,\"starts_at\":\"%s\",\"expires_at\":\"%s\",\"po_number\":\"PO-%d\"}\n", sku, 10 + i % 990, D0, D1, i
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
      if (k == 0) { kind = "renewal"; dates = "\"seats\":" (20 + i % 990) ",\"starts_at\":\"" D1 "\",\"expires_at\":\"" D2 "\"" }
      if (k == 1) { kind = "true_forward"; dates = "\"seats\":5,\"starts_at\":\"" DTF "\",\"expires_at\":\"" D1 "\"" }
      # A reissue and a true_forward keep the terms of the license they supersede,
      # the trial flag among them.
      if (k >= 1 && i % 50 == 7) extra = extra ",\"trial\":true"
      if (k == 2) { kind = "reissue"; dates = "\"seats\":" (10 + i % 990) ",\"starts_at\":\"" D0 "\",\"expires_at\":\"" D1 "\",\"reason\":\"server rebuilt\"" }
      printf "{\"manifest_version\":1,\"order_id\":\"%s-F%d\",\"kind\":\"%s\",\"supersedes\":\"order:%s-%d\",\"channel\":\"%s\"%s,%s,\"sku\":\"%s\",%s}\n", P, i, kind, S, i, ch, extra, cust, sku, dates
    }
  }
}'
