"""Assembling, converting and forwarding one upload, in its own process: prints the RSS it added, as JSON.

    python -m bench.upload_rss <megabytes>

The parts (4 MiB, as the SDK sends them) are added first; then the process's resident memory is sampled while
uploads.complete assembles them in S3, checks every line, converts the file into Bedrock records and stages it in
S3 (Bedrock's whole upload path). S3 and DynamoDB are a moto server in another process (AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import gc
import io
import json
import sys
import threading
import time

from bench.convert import rss_mb
from bench.data import input_lines

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
PART = 4 * 1024 * 1024


def main() -> None:
    import boto3

    from batchbridge.config import Settings
    from batchbridge.gateway import Gateway
    from batchbridge.store.queue import LocalWorkQueue
    from batchbridge.store.schema import ensure_bucket, ensure_table

    megabytes = int(sys.argv[1])
    settings = Settings.from_env()
    ensure_table(boto3.client("dynamodb"), settings.table)
    ensure_bucket(boto3.client("s3"), settings.bucket)
    gateway = Gateway.from_settings(settings, queue=LocalWorkQueue())
    caller = gateway.caller({"authorization": "Bearer bench-key"})
    from batchbridge.domain.validation import MAX_BATCH_FILE_BYTES

    data = b"".join(input_lines(megabytes * 1024 * 1024, MODEL))[:MAX_BATCH_FILE_BYTES]
    data = data[: data.rfind(b"\n") + 1]
    upload = gateway.uploads.create(
        caller,
        "bedrock",
        {"filename": "bench.jsonl", "purpose": "batch", "bytes": len(data), "mime_type": "application/jsonl"},
    )
    part_ids = []
    for start in range(0, len(data), PART):
        chunk = data[start : start + PART]
        part = gateway.uploads.add_part(caller, upload.id, None, stream=io.BytesIO(chunk), size=len(chunk))
        part_ids.append(part.id)
    size = len(data)
    del data, chunk
    gc.collect()

    baseline = rss_mb()
    peak = [baseline]
    running = True

    def sample() -> None:
        while running:
            peak[0] = max(peak[0], rss_mb())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    _, file = gateway.uploads.complete(caller, upload.id, None, {"part_ids": part_ids})
    seconds = time.perf_counter() - started
    running = False
    sampler.join()
    assert file.bytes == size
    print(json.dumps({"bytes": size, "seconds": seconds, "base_mb": baseline, "added_mb": peak[0] - baseline}))


if __name__ == "__main__":
    main()
