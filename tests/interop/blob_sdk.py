"""Microsoft's Python Blob SDK (azure-storage-blob) on the other side of the interop tests:
a client nobody here wrote reads what a guest uploaded, and writes what a guest then reads.

    blob_sdk.py describe CONTAINER PATH          -> {"len", "sha256", "content_type", "metadata"}
    blob_sdk.py upload CONTAINER PATH SIZE TYPE META_JSON
                                                  (SIZE bytes of the tests' pattern)
    blob_sdk.py account-sas                       -> an account SAS token (1 hour, all rights)
    blob_sdk.py bench-upload CONTAINER PATH SIZE  -> {"seconds", "peak_rss"}: a streamed upload
    blob_sdk.py bench-download CONTAINER PATH SIZE   (4 MiB blocks / chunks; data is not the pattern,
                                                   whose generation in pure Python would dominate)

The account comes from $AW_AZURITE_CONNECTION_STRING. Data is pattern(i) = (i*31 + i//7) % 251,
as in tests/guests/adls-probe.
"""
import datetime
import hashlib
import json
import os
import resource
import sys
import time

from azure.storage.blob import (AccountSasPermissions, BlobServiceClient, ContentSettings,
                                ResourceTypes, generate_account_sas)


def pattern(size):
    return bytes((i * 31 + i // 7) % 251 for i in range(size))


def main(argv):
    conn = os.environ["AW_AZURITE_CONNECTION_STRING"]
    service = BlobServiceClient.from_connection_string(conn)
    cmd = argv[1]
    if cmd == "describe":
        blob = service.get_blob_client(argv[2], argv[3])
        data = blob.download_blob().readall()
        props = blob.get_blob_properties()
        print(json.dumps({
            "len": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "content_type": props.content_settings.content_type,
            "metadata": dict(props.metadata),
        }))
    elif cmd == "upload":
        container, path, size, content_type, meta = argv[2], argv[3], int(argv[4]), argv[5], json.loads(argv[6])
        try:
            service.create_container(container)
        except Exception:
            pass
        service.get_blob_client(container, path).upload_blob(
            pattern(size), overwrite=True, metadata=meta,
            content_settings=ContentSettings(content_type=content_type))
        print(json.dumps({"len": size}))
    elif cmd == "account-sas":
        print(generate_account_sas(
            service.account_name, service.credential.account_key,
            resource_types=ResourceTypes(service=True, container=True, object=True),
            permission=AccountSasPermissions(read=True, write=True, delete=True, list=True, add=True, create=True),
            expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)))
    elif cmd in ("bench-upload", "bench-download"):
        container, path, size = argv[2], argv[3], int(argv[4])
        block = 4 << 20
        client = BlobServiceClient.from_connection_string(conn, max_block_size=block, max_single_put_size=block)
        blob = client.get_blob_client(container, path)
        chunk = bytes(range(256)) * (block // 256)
        start = time.perf_counter()
        if cmd == "bench-upload":
            def blocks():
                for _ in range(size // block):
                    yield chunk
            blob.upload_blob(blocks(), length=size, overwrite=True, max_concurrency=1)
        else:
            got = 0
            for part in blob.download_blob(max_concurrency=1).chunks():
                got += len(part)
            assert got == size, got
        seconds = time.perf_counter() - start
        print(json.dumps({"seconds": seconds, "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv)
