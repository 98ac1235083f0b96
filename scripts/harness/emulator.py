"""DynamoDB and SNS on localhost for the functions: moto's server (one request at a time,
see moto_serial.py) with the table made.

Run by `make emulator`. Serves until interrupted. The table mirrors CodesTable in
template.yaml: string partition key `pk`, on-demand, TTL on `purge_at`.
"""

import os
import sys
import threading
import time

import boto3
from moto_serial import serve

PORT = int(os.environ.get("EMULATOR_PORT", "5000"))
TABLE = os.environ.get("TABLE_NAME", "otp-codes")


def main() -> int:
    threading.Thread(target=serve, args=("127.0.0.1", PORT), daemon=True).start()
    endpoint = f"http://127.0.0.1:{PORT}"
    time.sleep(1)  # the server thread binds its port
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    dynamodb.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    dynamodb.update_time_to_live(
        TableName=TABLE,
        TimeToLiveSpecification={"AttributeName": "purge_at", "Enabled": True},
    )
    print(f"DynamoDB and SNS emulation at {endpoint}, table {TABLE}", flush=True)
    print(f"Sent SMS: {endpoint}/moto-api/data.json (.sns.SMS)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
