"""`aws-sagemaker`: a SageMaker real-time endpoint through boto3's `sagemaker-runtime`
`invoke_endpoint`.

`config`: `endpointName` (required), `region` (else `credentials.region`, else the AWS chain),
`targetVariant`, `contentType` `application/json` (default) or `text/csv`, `accept`,
`customAttributes`, `maxPayloadBytes` (default 6 MB, SageMaker's limit for real-time
invocations), `maxBatchRows`, `controlEndpoint` (for the health check's DescribeEndpoint), and the
request/response mapping of `mapping.py` (JSON rows go under `request.rowsKey`, default
`instances`; a null rowsKey sends the bare list). `providerConfig.endpoint` overrides the
runtime URL (VPC endpoints, or a local emulator). Credentials: `accessKeyId` /
`secretAccessKey` / `sessionToken` (or their `…Env` names), else the standard AWS chain
(environment, shared files, instance role).

A batch goes out in as few invocations as the payload limit allows."""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from core.outbound import outbound_url_problem
from hotcrm_ai.errors import ProviderFailed
from ml.base import Prediction
from predictions.providers.external import CallContext, ExternalProvider
from predictions.providers.mapping import (
    example_row,
    positional_order,
    predictions_list,
    request_config,
    row_payload,
    to_prediction,
)
from predictions.providers.resilience import (
    UpstreamError,
    malformed,
    misconfigured,
    model_config,
    parse_retry_after,
)

if TYPE_CHECKING:
    from registry.models import MLModel

PAYLOAD_LIMIT = 6 * 1024 * 1024
JSON, CSV = "application/json", "text/csv"
RETRYABLE_CODES = {"ThrottlingException", "ServiceUnavailable", "InternalFailure",
                   "ModelNotReadyException", "InternalDependencyException"}


class SageMakerProvider(ExternalProvider):
    name = "aws-sagemaker"

    def __init__(self) -> None:
        # Building a boto3 client costs tens of milliseconds: one per model revision and
        # credentials, reused by every request (boto3 clients are thread-safe).
        self._clients: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()

    def target(self, model: MLModel) -> str:
        c = model_config(model)
        endpoint = (model.provider_config or {}).get("endpoint") or ""
        return f"{self.name}|{endpoint}|{c.get('region', '')}|{c.get('endpointName')}|{c.get('targetVariant', '')}"

    # --- prediction -------------------------------------------------------------------

    def predict_batch(self, model: MLModel, rows: list[dict[str, Any]]) -> list[Prediction]:
        ctx = self.context(model)
        try:
            bodies = self.payloads(model, rows)
        except UpstreamError as exc:  # a config these rows cannot be sent with: no call made
            raise ProviderFailed(f"Model '{model.pk}' ({model.provider}) failed: {exc.message}",
                                 extra={"reason": exc.reason}) from None
        results: list[Prediction] = []
        for body in bodies:
            results += self.call(ctx, functools.partial(self._invoke, ctx, body, len(body.rows)))
        return results

    def payloads(self, model: MLModel, rows: list[dict[str, Any]]) -> list[_Body]:
        """Rows packed greedily into bodies no larger than the payload limit."""
        c = model_config(model)
        limit = int(c.get("maxPayloadBytes") or PAYLOAD_LIMIT)
        max_rows = int(c.get("maxBatchRows") or len(rows))
        encoded = [self._encode_row(model, row) for row in rows]
        out: list[_Body] = []
        current = _Body(self._envelope(model))
        for index, piece in enumerate(encoded):
            if current.rows and (current.size_with(piece) > limit or len(current.rows) >= max_rows):
                out.append(current)
                current = _Body(current.envelope)
            if current.size_with(piece) > limit:
                raise misconfigured(f"row {index} alone is larger than the {limit}-byte payload limit")
            current.add(piece)
        out.append(current)
        return out

    def _content_type(self, model: MLModel) -> str:
        content_type = model_config(model).get("contentType", JSON)
        if content_type not in (JSON, CSV):
            raise misconfigured(f"config.contentType must be {JSON} or {CSV}")
        return content_type

    def _envelope(self, model: MLModel) -> tuple[bytes, bytes, bytes]:
        """(prefix, separator, suffix) around the encoded rows."""
        if self._content_type(model) == CSV:
            return b"", b"", b""
        rows_key = request_config(model).get("rowsKey", "instances")
        if not rows_key:
            return b"[", b",", b"]"
        marker = "\x00rows\x00"
        extra = request_config(model).get("extra") or {}
        text = json.dumps({**extra, rows_key: marker})
        prefix, suffix = text.split(json.dumps(marker))
        return prefix.encode() + b"[", b",", b"]" + suffix.encode()

    def _encode_row(self, model: MLModel, row: dict[str, Any]) -> bytes:
        if self._content_type(model) == CSV:
            line = io.StringIO()
            csv.writer(line, lineterminator="\n").writerow([row.get(n) for n in positional_order(model)])
            return line.getvalue().encode()
        return json.dumps(row_payload(model, row), separators=(",", ":"), allow_nan=False).encode()

    def _invoke(self, ctx: CallContext, body: _Body, count: int) -> list[Prediction]:
        c = model_config(ctx.model)
        content_type = self._content_type(ctx.model)
        params: dict[str, Any] = {
            "EndpointName": str(c.get("endpointName") or ""), "Body": body.bytes(),
            "ContentType": content_type, "Accept": str(c.get("accept") or content_type),
        }
        if not params["EndpointName"]:
            raise misconfigured("config.endpointName is required")
        for key, param in (("targetVariant", "TargetVariant"), ("customAttributes", "CustomAttributes"),
                           ("targetModel", "TargetModel"), ("inferenceComponentName", "InferenceComponentName")):
            if c.get(key):
                params[param] = str(c[key])
        with _boto_errors():
            response = self._client(ctx, "sagemaker-runtime").invoke_endpoint(**params)
            raw = response["Body"].read()
        items = self._parse(ctx.model, raw, response.get("ContentType", ""), count)
        return [to_prediction(ctx.model, item) for item in items]

    def _parse(self, model: MLModel, raw: bytes, content_type: str, count: int) -> list[Any]:
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            raise malformed("the body is not UTF-8") from None
        if CSV in content_type or (not text.lstrip().startswith(("{", "[")) and "json" not in content_type):
            lines = [line for line in text.splitlines() if line.strip()]
            if count > 1 and len(lines) == 1 and "," in lines[0]:
                lines = lines[0].split(",")  # some built-in algorithms answer one line
            values = [_csv_value(line) for line in lines]
            # Without a CSV content type only numbers pass: an HTML error page or a stack
            # trace in a 200 must not become a prediction.
            if CSV not in content_type and not all(_numeric(v) for v in values):
                raise malformed(f"the body ({content_type or 'no content type'}) is neither JSON nor CSV")
            return predictions_list(model, values, count)
        try:
            return predictions_list(model, json.loads(text), count)
        except ValueError:
            raise malformed("the body is not JSON") from None

    # --- clients and health -----------------------------------------------------------

    def _client(self, ctx: CallContext, service: str) -> Any:
        creds = ctx.credentials
        c = model_config(ctx.model)
        endpoint_url = (ctx.model.provider_config or {}).get("endpoint") or None
        if service == "sagemaker":
            endpoint_url = c.get("controlEndpoint") or None
        secret_hash = hashlib.sha256(json.dumps(creds, sort_keys=True).encode()).hexdigest()
        key = (ctx.model.pk, ctx.model.revision, service, endpoint_url, secret_hash, ctx.policy)
        client = self._clients.get(key)
        if client is None:
            with self._lock:
                session = boto3.session.Session(
                    aws_access_key_id=creds.get("accessKeyId"),
                    aws_secret_access_key=creds.get("secretAccessKey"),
                    aws_session_token=creds.get("sessionToken"),
                    region_name=creds.get("region") or c.get("region") or None,
                )
                client = session.client(service, endpoint_url=endpoint_url, config=Config(
                    connect_timeout=ctx.policy.connect_timeout, read_timeout=ctx.policy.read_timeout,
                    # Our own retry layer decides, the same way for every provider.
                    retries={"total_max_attempts": 1, "mode": "standard"},
                ))
                # Every request checked against PROVIDER_ALLOWED_HOSTS, as for the others.
                client.meta.events.register("before-send", _outbound_check)
                self._clients = {k: v for k, v in self._clients.items() if k[0] != ctx.model.pk or k[2] != service}
                self._clients[key] = client
        return client

    def probe(self, ctx: CallContext) -> str:
        """DescribeEndpoint: a control-plane read that costs no inference."""
        name = str(model_config(ctx.model).get("endpointName") or "")
        if not name:
            raise misconfigured("config.endpointName is required")
        if model_config(ctx.model).get("healthCheck") == "invoke":
            prediction = self._invoke(ctx, _single(self, ctx.model, example_row(ctx.model)), 1)[0]
            return f"invoked with one example row: {prediction.value}"
        with _boto_errors():
            status = self._client(ctx, "sagemaker").describe_endpoint(EndpointName=name).get("EndpointStatus")
        if status != "InService":
            raise UpstreamError(f"endpoint {name} is not InService", reason="not_ready")
        return self.probe_by_scoring(ctx, f"endpoint {name} is InService")

    def score_example(self, ctx: CallContext) -> Prediction:
        return self._invoke(ctx, _single(self, ctx.model, example_row(ctx.model)), 1)[0]


class _Body:
    def __init__(self, envelope: tuple[bytes, bytes, bytes]) -> None:
        self.envelope = envelope
        self.rows: list[bytes] = []
        self.size = len(envelope[0]) + len(envelope[2])

    def size_with(self, piece: bytes) -> int:
        return self.size + len(piece) + (len(self.envelope[1]) if self.rows else 0)

    def add(self, piece: bytes) -> None:
        self.size = self.size_with(piece)
        self.rows.append(piece)

    def bytes(self) -> bytes:
        prefix, separator, suffix = self.envelope
        return prefix + separator.join(self.rows) + suffix


def _single(provider: SageMakerProvider, model: MLModel, row: dict[str, Any]) -> _Body:
    body = _Body(provider._envelope(model))
    body.add(provider._encode_row(model, row))
    return body


def _numeric(value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    return bool(values) and all(isinstance(v, int | float) for v in values)


def _csv_value(line: str) -> Any:
    values: list[float | str] = []
    for cell in next(csv.reader([line])):
        # "1" stays an int (a class index, not a probability of 1); "0.93" is a float.
        try:
            values.append(int(cell))
        except ValueError:
            try:
                values.append(float(cell))
            except ValueError:
                values.append(cell.strip())
    return values[0] if len(values) == 1 else values


def _outbound_check(request: Any, **kwargs: Any) -> None:
    if problem := outbound_url_problem(request.url, resolve=True):
        raise misconfigured(f"Outbound call refused: {problem}")


@contextmanager
def _boto_errors() -> Iterator[None]:
    """botocore's exceptions as UpstreamError: what is retryable, what is a timeout."""
    try:
        yield
    except UpstreamError:
        raise
    except BotoCoreError as exc:
        raise _boto_error(exc) from None
    except ClientError as exc:
        raise _client_error(exc) from None


def _boto_error(exc: BotoCoreError) -> UpstreamError:
    if isinstance(exc, ReadTimeoutError):
        return UpstreamError("timed out", timeout=True)
    if isinstance(exc, ConnectTimeoutError | EndpointConnectionError | ConnectionClosedError):
        return UpstreamError(f"connection failed ({type(exc).__name__})", retryable=True, reason="connection")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | NoRegionError):
        return misconfigured(f"{type(exc).__name__}: set the credentials and region in the "
                             "provider config or the AWS environment")
    return UpstreamError(f"AWS client error ({type(exc).__name__})")


def _client_error(exc: ClientError) -> UpstreamError:
    meta = exc.response.get("ResponseMetadata", {})
    status = int(meta.get("HTTPStatusCode") or 0)
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or "")
    original = exc.response.get("OriginalStatusCode")
    retryable = status == 429 or status >= 500 or code in RETRYABLE_CODES or (
        code == "ModelError" and isinstance(original, int) and (original == 429 or original >= 500))
    # The error code only, never its message: the model container writes that.
    code = code if re.fullmatch(r"[A-Za-z][A-Za-z0-9_.]{0,63}", code) else ""
    return UpstreamError(
        f"HTTP {status} {code}".strip(), retryable=retryable, status=status, trips=retryable,
        retry_after=parse_retry_after((meta.get("HTTPHeaders") or {}).get("retry-after")),
        reason="http_status",
    )
