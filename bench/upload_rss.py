"""Assembling, converting and forwarding one upload, in its own process: prints the RSS it added, as JSON.

    python -m bench.upload_rss prepare <megabytes> <state file>
    python -m bench.upload_rss complete <state file>

The parts (4 MiB, as the SDK sends them) are added first; then the process's resident memory is sampled while
uploads.complete (with, for an upload over SYNC_COMPLETE_MAX_BYTES, the complete_upload job it queues) assembles
them in S3, checks every line, converts the file into Bedrock records and stages it in S3 (Bedrock's whole upload
path). S3 and DynamoDB are a moto server in another process (AWS_ENDPOINT_URL).
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
    """``prepare <megabytes> <state file>`` adds the parts (its memory is not measured);
    ``complete <state file>`` completes the upload while its RSS is sampled."""
    import boto3

    from batchbridge.config import Settings
    from batchbridge.gateway import Gateway
    from batchbridge.store.queue import LocalWorkQueue
    from batchbridge.store.schema import ensure_bucket, ensure_table

    settings = Settings.from_env()
    ensure_table(boto3.client("dynamodb"), settings.table)
    ensure_bucket(boto3.client("s3"), settings.bucket)
    gateway = Gateway.from_settings(settings, queue=LocalWorkQueue())
    caller = gateway.caller({"authorization": "Bearer bench-key"})
    if sys.argv[1] == "prepare":
        from batchbridge.domain.validation import MAX_BATCH_FILE_BYTES

        megabytes, state = int(sys.argv[2]), sys.argv[3]
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
        with open(state, "w") as out:
            json.dump({"upload_id": upload.id, "part_ids": part_ids, "bytes": len(data)}, out)
        print(json.dumps({"prepared": len(part_ids)}))
        return

    with open(sys.argv[2]) as source:
        prepared = json.load(source)
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
    started, started_cpu = time.perf_counter(), time.process_time()
    _, file = gateway.uploads.complete(caller, prepared["upload_id"], None, {"part_ids": prepared["part_ids"]})
    if file.status == "uploaded":  # over SYNC_COMPLETE_MAX_BYTES: accepted at once, made by the complete_upload job
        made = gateway.uploads.process(prepared["upload_id"])
        assert made is not None and made.status == "processed", made
        file = made
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - started_cpu
    running = False
    sampler.join()
    assert file.bytes == prepared["bytes"]
    print(
        json.dumps(
            {
                "bytes": file.bytes,
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
                "base_mb": baseline,
                "added_mb": peak[0] - baseline,
            }
        )
    )


if __name__ == "__main__":
    main()
