"""Fitted predictors as signed, compressed bytes for the registry's database.

Pickle runs code while loading, so a blob is only unpickled after its HMAC-SHA256 under the
service's key has been checked: artifacts are produced by our own training code alone and are
never loaded from anything a user uploads (users upload CSVs, which are parsed, and ONNX
files, which onnxruntime reads as a graph; neither is unpickled). Layout: MAGIC | 32-byte signature | zlib(pickle(predictor)).
"""

from __future__ import annotations

import hashlib
import hmac
import pickle
import zlib

from ml.base import Predictor

MAGIC = b"HCAI1"
SIGNATURE_BYTES = hashlib.sha256().digest_size
# An uploaded ONNX model is stored as this prefix + the file's bytes. It is never unpickled:
# `loads` refuses anything without MAGIC and our signature, and the local provider hands
# these blobs to onnxruntime (ml/onnx_model.py) instead.
ONNX_MAGIC = b"ONNX1"


def onnx_blob(data: bytes) -> bytes:
    return ONNX_MAGIC + data


def onnx_bytes(blob: bytes) -> bytes | None:
    return blob[len(ONNX_MAGIC):] if blob.startswith(ONNX_MAGIC) else None


class ArtifactError(ValueError):
    """The blob is not an artifact signed with this key (tampered, truncated or foreign)."""


def _signature(payload: bytes, key: bytes) -> bytes:
    if not key:
        raise ArtifactError("An artifact key is required.")
    return hmac.new(key, MAGIC + payload, hashlib.sha256).digest()


def dumps(predictor: Predictor, key: bytes) -> bytes:
    payload = zlib.compress(pickle.dumps(predictor, protocol=pickle.HIGHEST_PROTOCOL), level=6)
    return MAGIC + _signature(payload, key) + payload


def loads(blob: bytes, key: bytes) -> Predictor:
    header = len(MAGIC) + SIGNATURE_BYTES
    if len(blob) <= header or not blob.startswith(MAGIC):
        raise ArtifactError("Not a HotCRM model artifact.")
    signature, payload = blob[len(MAGIC) : header], blob[header:]
    if not hmac.compare_digest(signature, _signature(payload, key)):
        raise ArtifactError("The artifact's signature does not match: refusing to load it.")
    predictor = pickle.loads(zlib.decompress(payload))  # signed by us: checked above
    if not isinstance(predictor, Predictor):
        raise ArtifactError(f"The artifact holds a {type(predictor).__name__}, not a Predictor.")
    return predictor
