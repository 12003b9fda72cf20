"""The evidence store: where exported and preserved footage is kept (Art. 17, 18).

A local directory by default (`make run`, one machine); an S3-compatible object store in
production (the campus's MinIO/Ceph, or a cloud bucket). The store only keeps bytes; whether
an object may be deleted is decided by the media service from its holds, and the S3 store
additionally asks for an object-lock retention date when the bucket has object lock on, so
the stored version cannot be deleted or overwritten before then, whatever asks.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

CHUNK = 1 << 20


class StoreError(Exception):
    """The evidence store refused or failed an operation (the message names the object)."""


class EvidenceStore(Protocol):
    uri: str

    async def put_file(self, key: str, path: Path, *, retain_until: date | None = None) -> None: ...

    async def sha256(self, key: str) -> str | None:
        """SHA-256 of the stored bytes, read back from the store; None when it is gone."""

    async def delete(self, key: str) -> None: ...

    async def read(self, key: str) -> bytes: ...


def _check_key(key: str) -> str:
    if not key or key.startswith("/") or ".." in key.split("/") or "\\" in key:
        raise StoreError(f"bad object key {key!r}")
    return key


class LocalStore:
    """Objects as files under one directory (written then renamed, so no half file shows)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.uri = f"local:{self.root}"

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    async def put_file(self, key: str, path: Path, *, retain_until: date | None = None) -> None:
        dest = self._path(key)

        def copy() -> None:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(dest.name + ".part")
            with open(path, "rb") as src, open(tmp, "wb") as out:
                while chunk := src.read(CHUNK):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            tmp.replace(dest)

        await asyncio.to_thread(copy)

    async def sha256(self, key: str) -> str | None:
        p = self._path(key)

        def digest() -> str | None:
            if not p.is_file():
                return None
            h = hashlib.sha256()
            with open(p, "rb") as f:
                while chunk := f.read(CHUNK):
                    h.update(chunk)
            return h.hexdigest()

        return await asyncio.to_thread(digest)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def read(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self._path(key).read_bytes)
        except FileNotFoundError as exc:
            raise StoreError(f"no object {key!r} in {self.uri}") from exc


class S3Store:
    """Objects in an S3-compatible bucket (boto3 in a worker thread; it is blocking)."""

    def __init__(
        self,
        url: str,
        *,
        endpoint_url: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str = "us-east-1",
        object_lock: bool = False,
    ) -> None:
        import boto3  # only the S3 path needs it

        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise StoreError(f"an S3 store is s3://bucket[/prefix], not {url!r}")
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.uri = url.rstrip("/")
        self.object_lock = object_lock
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            aws_access_key_id=access_key or None,
            aws_secret_access_key=secret_key or None,
            region_name=region,
        )

    def _key(self, key: str) -> str:
        key = _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    async def put_file(self, key: str, path: Path, *, retain_until: date | None = None) -> None:
        extra: dict[str, Any] = {}
        if self.object_lock and retain_until is not None:
            extra = {
                "ObjectLockMode": "COMPLIANCE",
                "ObjectLockRetainUntilDate": datetime.combine(retain_until, time.max, UTC),
            }

        def put() -> None:
            with open(path, "rb") as f:
                self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=f, **extra)

        try:
            await asyncio.to_thread(put)
        except Exception as exc:
            raise StoreError(f"could not store {key!r} in {self.uri}: {exc}") from exc

    async def sha256(self, key: str) -> str | None:
        def digest() -> str | None:
            try:
                obj = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            except self.client.exceptions.NoSuchKey:
                return None
            h = hashlib.sha256()
            for chunk in obj["Body"].iter_chunks(CHUNK):
                h.update(chunk)
            return h.hexdigest()

        return await asyncio.to_thread(digest)

    async def delete(self, key: str) -> None:
        try:
            await asyncio.to_thread(
                self.client.delete_object, Bucket=self.bucket, Key=self._key(key)
            )
        except Exception as exc:
            raise StoreError(f"could not delete {key!r} in {self.uri}: {exc}") from exc

    async def read(self, key: str) -> bytes:
        def get() -> bytes:
            obj = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            return bytes(obj["Body"].read())

        try:
            return await asyncio.to_thread(get)
        except Exception as exc:
            raise StoreError(f"could not read {key!r} in {self.uri}: {exc}") from exc


def open_store(
    url: str,
    *,
    default_dir: Path,
    endpoint_url: str = "",
    access_key: str = "",
    secret_key: str = "",
    region: str = "us-east-1",
    object_lock: bool = False,
) -> EvidenceStore:
    """`""` → a local directory under the data dir; `/path` or `file:` → local; `s3://` → S3."""
    if not url:
        return LocalStore(default_dir)
    if url.startswith("s3://"):
        return S3Store(
            url,
            endpoint_url=endpoint_url,
            access_key=access_key,
            secret_key=secret_key,
            region=region,
            object_lock=object_lock,
        )
    if url.startswith("file:"):
        return LocalStore(Path(url.removeprefix("file:").removeprefix("//")))
    if url.startswith("/"):
        return LocalStore(Path(url))
    raise StoreError(f"evidence store {url!r}: use a directory, file:/dir or s3://bucket/prefix")
