"""The ops table as the storage stack defines it (pk/sk strings, on demand, TTL), for the local plane and tests."""

from __future__ import annotations

from typing import Any

#: ``stacks.storage_stack.TTL_ATTRIBUTE`` (not imported: that module loads aws_cdk); tests/infra checks they agree
TTL_ATTRIBUTE = "expires_at"


def create_ops_table(dynamodb: Any, name: str) -> None:
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    # moto records the setting (it never deletes expired items); declared so the plane's table is the deployed one
    dynamodb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
    )
