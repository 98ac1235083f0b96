"""The hot-item report of `make bench`: which DynamoDB items many users' sends write, and
how many sends a second each allows into one country.

Input: one record per user flow (a register and the verify of its code, each user with its
own phone, subject and address), each the fault proxy's list of the items the flow wrote
(`GET /_proxy/writes`: key, "single" or "transaction", writes). An item written by more than
one flow is shared. For each, per send: its single writes, its transaction parts, the write
units they take (1 a single write of an item under 1 KB, 2 a transaction's part), and the
sends a second the item allows:

- 1,000 write units a second is DynamoDB's limit for one item (its partition);
- an item in transactions allows about 50 a second whatever its units: DynamoDB cancels a
  transaction that overlaps another on one item (`TransactionConflict`), and beyond tens a
  second the retries take over.

The lowest figure is the design's ceiling for sends into one country. Prefix items of the
breaker are shared only by the numbers of one range; their figure holds while the range takes
the share of the traffic it took here.

`hot_items.py --self-test` checks the model on made-up flows.
"""

from __future__ import annotations

import re
import sys
from collections import Counter

ITEM_WRITE_UNITS_PER_SECOND = 1000
TRANSACTION_ITEM_SENDS_PER_SECOND = 50


def shape(key: str) -> str:
    """The key with what differs between users and windows named, not shown: a keyed
    pseudonym (hex) is `<pseudonym>`, a window's start (9 digits or more) `<window>`, the
    digits of a breaker's prefix `<range>`."""
    if key.startswith("breaker#prefix#"):
        return "breaker#prefix#<range>#" + key.rsplit("#", 1)[1]
    parts = []
    for part in key.split("#"):
        if re.fullmatch(r"[0-9a-f]{32,}", part):
            parts.append("<pseudonym>")
        elif re.fullmatch(r"\d{9,}", part):
            parts.append("<window>")
        else:
            parts.append(part)
    return "#".join(parts)


def report(flows: list[list[dict]]) -> list[dict]:
    """One row per kind of item written by more than one flow (the busiest item of the kind,
    and how many items of it were shared), lowest allowed sends a second first."""
    sends = len(flows)
    flows_by_key: Counter[str] = Counter()
    writes: dict[str, Counter[str]] = {}
    for flow in flows:
        for key in {write["key"] for write in flow}:
            flows_by_key[key] += 1
        for write in flow:
            writes.setdefault(write["key"], Counter())[write["kind"]] += write["writes"]
    rows = []
    for key, users in flows_by_key.items():
        if users < 2:
            continue
        single = writes[key]["single"] / sends
        transaction = writes[key]["transaction"] / sends
        units = single + 2 * transaction
        allowed = ITEM_WRITE_UNITS_PER_SECOND / units
        if transaction:
            allowed = min(allowed, TRANSACTION_ITEM_SENDS_PER_SECOND / transaction)
        rows.append({
            "item": shape(key),
            "items": 1,
            "users": users,
            "single_per_send": round(single, 3),
            "transaction_per_send": round(transaction, 3),
            "units_per_send": round(units, 3),
            "sends_per_second": round(allowed),
        })
    busiest: dict[str, dict] = {}
    for row in sorted(rows, key=lambda row: row["sends_per_second"]):
        if row["item"] in busiest:
            busiest[row["item"]]["items"] += 1
        else:
            busiest[row["item"]] = row
    return sorted(busiest.values(), key=lambda row: (row["sends_per_second"], row["item"]))


def print_report(rows: list[dict], flows: int) -> None:
    print(f"Items written for more than one of {flows} users (register + verify each, one country):")
    width = max([len(row["item"]) for row in rows] + [4])
    print(f"{'item':{width}}  items  users  single/send  in transaction/send  units/send  sends/s allowed")
    for row in rows:
        print(
            f"{row['item']:{width}}  {row['items']:5}  {row['users']:5}  {row['single_per_send']:11}  "
            f"{row['transaction_per_send']:19}  {row['units_per_send']:10}  {row['sends_per_second']:15}"
        )
    if rows:
        print(f"ceiling into one country: {rows[0]['sends_per_second']} sends/s ({rows[0]['item']})")


def self_test() -> None:
    day = "counter#budget_day#all#1796083200"
    country = "counter#country_day#IN#1796083200"
    trip = "breaker#country#IN#trip"
    ranges = ["breaker#prefix#91987#trip", "breaker#prefix#91987#trip", "breaker#prefix#91700#trip"]

    def flow(n: int) -> list[dict]:
        own = f"challenge#{n:064x}#{n + 1:064x}"
        return [
            {"key": own, "kind": "transaction", "writes": 2},
            {"key": day, "kind": "transaction", "writes": 1},
            {"key": country, "kind": "transaction", "writes": 1},
            {"key": trip, "kind": "single", "writes": 2},
            {"key": ranges[n % 3], "kind": "single", "writes": 2},
        ]

    rows = report([flow(n) for n in range(4)])
    items = [row["item"] for row in rows]
    assert "challenge#<pseudonym>#<pseudonym>" not in items, "one user's item is not shared"
    assert items == [
        "counter#budget_day#all#<window>", "counter#country_day#IN#<window>", "breaker#country#IN#trip",
        "breaker#prefix#<range>#trip",
    ], items
    assert rows[0]["sends_per_second"] == 50, rows[0]
    assert rows[2] == {
        "item": "breaker#country#IN#trip", "items": 1, "users": 4, "single_per_send": 2.0,
        "transaction_per_send": 0.0, "units_per_send": 2.0, "sends_per_second": 500,
    }, rows[2]
    # Users 0, 1 and 3 share the range 91987 (6 writes in 4 sends); 91700 has user 2 only.
    assert (rows[3]["items"], rows[3]["users"], rows[3]["sends_per_second"]) == (1, 3, 667), rows[3]
    print("the hot-item model's self-test passed")


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        self_test()
    else:
        sys.exit(__doc__)
