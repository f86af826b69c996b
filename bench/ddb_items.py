"""Sizes of the benchmark tenant's DynamoDB items, for the cost model of `make bench`.

Usage: ddb_items.py TENANT  (environment of .local/env). Prints one JSON object:
{kind: {"count", "max_bytes", "rru_eventual", "rru_strong"}} where kind is the sort
key prefix (TENANT, CLIENT, USER, RT, FAM, AT, ...). Sizes follow DynamoDB's documented
item-size rules; the read units are what DynamoDB Local reports for a GetItem of
the largest item of each kind (ReturnConsumedCapacity=TOTAL).

The tenant and its clients share the partition `T#{tenant}`; every other item has
a partition of its own, `T#{tenant}#{sort key}` (docs/architecture.md: Storage), so the tenant's
items are found with a filtered scan of the (local, small) table, not a query.
"""
import json
import os
import sys
from decimal import Decimal

import boto3


def number_size(n: str) -> int:
    # "approximately 1 byte per two significant digits, plus 1 byte"
    digits = str(Decimal(n).normalize()).replace("-", "").replace(".", "").lstrip("0") or "0"
    if "E" in digits:
        digits = digits.split("E")[0]
    return (len(digits) + 1) // 2 + 1


def value_size(v: dict) -> int:
    (t, x), = v.items()
    if t == "S":
        return len(x.encode())
    if t == "N":
        return number_size(x)
    if t == "B":
        return len(x)
    if t in ("BOOL", "NULL"):
        return 1
    if t == "SS":
        return sum(len(s.encode()) for s in x)
    if t == "NS":
        return sum(number_size(s) for s in x)
    if t == "BS":
        return sum(len(b) for b in x)
    if t == "L":
        return 3 + sum(1 + value_size(e) for e in x)
    if t == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(e) for k, e in x.items())
    raise ValueError(t)


def item_size(item: dict) -> int:
    return sum(len(k.encode()) + value_size(v) for k, v in item.items())


def main() -> None:
    tenant = sys.argv[1]
    table = os.environ.get("TOLLGATE_TABLE", "tollgate")
    ddb = boto3.client(
        "dynamodb",
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"],
    )
    kinds: dict = {}
    pages = ddb.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression="pk = :pk OR begins_with(pk, :hot)",
        ExpressionAttributeValues={":pk": {"S": f"T#{tenant}"}, ":hot": {"S": f"T#{tenant}#"}},
    )
    for page in pages:
        for item in page["Items"]:
            kind = item["sk"]["S"].split("#", 1)[0]
            size = item_size(item)
            k = kinds.setdefault(kind, {"count": 0, "max_bytes": 0, "key": None})
            k["count"] += 1
            if size >= k["max_bytes"]:
                k["max_bytes"] = size
                k["key"] = {"pk": item["pk"], "sk": item["sk"]}
    for k in kinds.values():
        key = k.pop("key")
        for name, strong in (("rru_eventual", False), ("rru_strong", True)):
            r = ddb.get_item(
                TableName=table, Key=key, ConsistentRead=strong, ReturnConsumedCapacity="TOTAL"
            )
            k[name] = r.get("ConsumedCapacity", {}).get("CapacityUnits")
    json.dump(kinds, sys.stdout, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
