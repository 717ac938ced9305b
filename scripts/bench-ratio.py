#!/usr/bin/env python3
"""Prints how planning through the C API compares with the Rust-native figure of the same `make bench` run.

Reads the JSON lines `make bench` wrote (the Rust `plan` lines and the C benchmark's `c_plan` lines) and prints
one JSON line per CRM: {"bench": "c_overhead", "crm": ..., "rust_per_s": ..., "c_per_s": ..., "ratio": ...}, where
ratio = Rust pairs/s divided by C pairs/s (1.0 = no overhead; the target is at most 1.3). Exits non-zero when a
figure is missing.
"""
import json
import sys


def main(path: str) -> int:
    rust, c = {}, {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            row = json.loads(line)
            if row.get("bench") == "plan":
                # The C benchmark times its file reading too: compare with the Rust figure that includes it.
                rust[row["crm"]] = row.get("per_s_with_input", row["per_s"])
            elif row.get("bench") == "c_plan":
                c[row["crm"]] = row["per_s"]
    if not rust or set(rust) != set(c):
        print(f"missing figures: rust {sorted(rust)}, c {sorted(c)}", file=sys.stderr)
        return 1
    for crm in sorted(rust):
        ratio = rust[crm] / c[crm]
        print(json.dumps({"bench": "c_overhead", "crm": crm, "rust_per_s": rust[crm],
                          "c_per_s": c[crm], "ratio": round(ratio, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
