"""The `aws-sagemaker` provider through boto3 against a local endpoint that speaks
SageMaker's InvokeEndpoint (REST-JSON) and DescribeEndpoint (JSON 1.1) protocols and checks
the SigV4 signature with the secret it expects."""

from __future__ import annotations

import csv
import io
import itertools
import json
import logging
import re

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from monitoring.models import Metric
from predictions.providers import provider_for
from tests.predictions.providers.conftest import predict, predict_batch, register
from tests.predictions.providers.servers import LocalServer, Reply

pytestmark = pytest.mark.django_db
ACCESS_KEY = "AKIDHOTCRMTEST0001"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYHOTCRMSECRET"
CREDENTIALS = {"accessKeyId": ACCESS_KEY, "secretAccessKey": SECRET_KEY, "region": "eu-west-1"}
ROW = {"amount": 250, "segment": "enterprise"}


def signature_ok(server: LocalServer, request, secret: str = SECRET_KEY) -> bool:
    """Recompute the request's SigV4 signature with `secret`, as AWS would."""
    auth = request.headers.get("authorization", "")
    match = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request, "
                     r"SignedHeaders=([^,]+), Signature=(\w+)", auth)
    if not match:
        return False
    access, region, service, signed, signature = match.groups()
    aws = AWSRequest(method=request.method, url=server.url + request.path, data=request.body,
                     headers={h: request.headers[h] for h in signed.split(";")})
    aws.context["timestamp"] = request.headers["x-amz-date"]
    signer = SigV4Auth(Credentials(access, secret), service, region)
    expected = signer.signature(signer.string_to_sign(aws, signer.canonical_request(aws)), aws)
    return expected == signature


def score(row):
    return round(min(1.0, row["amount"] / 1000 + (0.25 if row["segment"] == "enterprise" else 0)), 4)


def sagemaker(request):
    if request.method == "POST" and request.path == "/":  # control plane, JSON 1.1
        name = request.json()["EndpointName"]
        if name != "deal-endpoint":
            return Reply(400, {"__type": "ValidationException", "message": f"Could not find endpoint {name}."},
                         headers={"Content-Type": "application/x-amz-json-1.1"})
        return Reply(200, {"EndpointName": name, "EndpointArn": f"arn:aws:sagemaker:eu-west-1:1:endpoint/{name}",
                           "EndpointStatus": "InService", "CreationTime": 1.7e9, "LastModifiedTime": 1.7e9},
                     headers={"Content-Type": "application/x-amz-json-1.1"})
    if not request.path.startswith("/endpoints/deal-endpoint/invocations"):
        return Reply(400, {"message": "Endpoint not found"}, headers={"x-amzn-ErrorType": "ValidationError"})
    if request.headers["content-type"] == "text/csv":
        rows = [{"amount": float(a), "segment": s} for a, s in csv.reader(io.StringIO(request.body.decode()))]
        return Reply(200, "\n".join(str(score(r)) for r in rows).encode(), headers={"Content-Type": "text/csv"})
    rows = request.json()["instances"]
    return Reply(200, {"predictions": [{"probability": score(r)} for r in rows]},
                 headers={"x-Amzn-Invoked-Production-Variant": request.headers.get("x-amzn-sagemaker-target-variant", "AllTraffic")})


def aws_error(status: int, code: str, message: str = "", **headers) -> Reply:
    return Reply(status, {"message": message or code}, headers={"x-amzn-ErrorType": code, **headers})


@pytest.fixture
def deal(server):
    server.handle = sagemaker
    return register("sm-deal-v1", "aws-sagemaker", endpoint=server.url, type="classification",
                    credentials=CREDENTIALS, config={"endpointName": "deal-endpoint", "targetVariant": "canary",
                                                     "controlEndpoint": server.url})


def test_it_invokes_the_endpoint_signed_with_the_models_credentials(api, server, deal):
    response = predict(api, "sm-deal-v1", ROW)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["prediction"] == {"probability": 0.5}
    assert body["confidence"] == pytest.approx(50.0)
    [request] = server.requests
    assert request.path == "/endpoints/deal-endpoint/invocations"
    assert request.json() == {"instances": [ROW]}
    assert request.headers["x-amzn-sagemaker-target-variant"] == "canary"
    assert f"Credential={ACCESS_KEY}/" in request.headers["authorization"]
    assert "/eu-west-1/sagemaker/" in request.headers["authorization"]
    assert signature_ok(server, request)
    assert not signature_ok(server, request, secret="another-secret")


def test_it_falls_back_to_the_standard_aws_credential_chain(api, server, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENVIRONMENT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-2")
    server.handle = sagemaker
    register("sm-chain-v1", "aws-sagemaker", endpoint=server.url, type="classification",
             config={"endpointName": "deal-endpoint"})
    assert predict(api, "sm-chain-v1", ROW).status_code == 200
    assert "Credential=AKIDFROMENVIRONMENT/" in server.requests[0].headers["authorization"]
    assert signature_ok(server, server.requests[0])


def test_it_speaks_csv(api, server):
    server.handle = sagemaker
    register("sm-csv-v1", "aws-sagemaker", endpoint=server.url, type="classification", credentials=CREDENTIALS,
             config={"endpointName": "deal-endpoint", "contentType": "text/csv"})
    rows = [{"amount": 100, "segment": "smb"}, {"amount": 600, "segment": "enterprise"}]
    results = predict_batch(api, "sm-csv-v1", rows).json()["results"]
    assert [r["prediction"] for r in results] == [0.1, 0.85]
    assert [r["confidence"] for r in results] == [pytest.approx(90.0), pytest.approx(85.0)]
    assert server.requests[0].body == b"100.0,smb\n600.0,enterprise\n"


def test_it_sends_a_batch_in_as_few_invocations_as_the_payload_limit_allows(api, server):
    server.handle = sagemaker
    limit = 200
    register("sm-small-v1", "aws-sagemaker", endpoint=server.url, type="classification", credentials=CREDENTIALS,
             config={"endpointName": "deal-endpoint", "maxPayloadBytes": limit})
    rows = [{"amount": a, "segment": "smb"} for a in range(100, 120)]
    response = predict_batch(api, "sm-small-v1", rows)
    assert response.status_code == 200, response.content
    assert [r["prediction"]["probability"] for r in response.json()["results"]] == [score(r) for r in rows]
    bodies = [r.body for r in server.requests]
    assert all(len(b) <= limit for b in bodies)
    # Greedy packing: no invocation could have taken the first row of the next one.
    for first, second in itertools.pairwise(bodies):
        next_row = json.dumps(json.loads(second)["instances"][0], separators=(",", ":")).encode()
        assert len(first) + 1 + len(next_row) > limit
    assert sum(len(json.loads(b)["instances"]) for b in bodies) == 20
    assert 1 < len(bodies) < 20


def test_it_answers_504_when_the_endpoint_is_too_slow(api, server, deal):
    server.queue(Reply(200, {"predictions": [{"probability": 0.5}]}, delay=1.5))
    response = predict(api, "sm-deal-v1", ROW)
    assert response.status_code == 504
    assert len(server.requests) == 1


def test_it_retries_service_unavailable_then_succeeds(api, server, deal):
    server.queue(aws_error(503, "ServiceUnavailable"), aws_error(429, "ThrottlingException", **{"Retry-After": "0"}))
    response = predict(api, "sm-deal-v1", ROW)
    assert response.status_code == 200, response.content
    assert len(server.requests) == 3


def test_it_does_not_retry_a_validation_error(api, server, deal):
    server.queue(aws_error(400, "ValidationError", "Received client error (400) from primary with message 'bad'"))
    response = predict(api, "sm-deal-v1", ROW)
    assert response.status_code == 502
    assert "ValidationError" in response.json()["error"]["message"]
    assert len(server.requests) == 1
    assert Metric.objects.get(model_id="sm-deal-v1").error_code == "provider_failed"


def test_it_refuses_a_malformed_answer(api, server, deal):
    server.queue(Reply(200, {"predictions": "nope"}))
    response = predict(api, "sm-deal-v1", ROW)
    assert response.status_code == 502 and response.json()["error"]["reason"] == "malformed_response"


def test_it_never_logs_or_returns_the_secret_key(api, staff_api, server, deal, caplog):
    caplog.set_level(logging.DEBUG)
    server.queue(aws_error(403, "AccessDeniedException", f"denied for {SECRET_KEY}"))
    response = predict(api, "sm-deal-v1", ROW)
    assert response.status_code == 502
    predict(api, "sm-deal-v1", ROW)
    shown = response.content.decode() + staff_api.get("/api/v1/models/sm-deal-v1/").content.decode()
    assert SECRET_KEY not in shown + caplog.text
    assert ACCESS_KEY not in shown


def test_its_health_check_describes_the_endpoint(server, deal):
    result = provider_for(deal).health_check(deal)
    assert result.ok, result.detail
    assert "InService" in result.detail
    request = server.requests[0]
    assert request.headers["x-amz-target"] == "SageMaker.DescribeEndpoint"
    assert signature_ok(server, request)


@pytest.fixture(scope="module")
def moto_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_it_works_against_motos_sagemaker_server_mode(api, moto_server):
    import boto3
    import httpx

    aws = {"endpoint_url": moto_server, "region_name": "eu-west-1",
           "aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY}
    control = boto3.client("sagemaker", **aws)
    control.create_model(ModelName="deal", ExecutionRoleArn="arn:aws:iam::123456789012:role/sm",
                         PrimaryContainer={"Image": "deal:1"})
    control.create_endpoint_config(EndpointConfigName="deal-config", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "deal", "InitialInstanceCount": 1, "InstanceType": "ml.t2.medium"}])
    control.create_endpoint(EndpointName="deal-moto", EndpointConfigName="deal-config")
    # moto answers InvokeEndpoint with the results queued through its API.
    httpx.post(f"{moto_server}/moto-api/static/sagemaker/endpoint-results", json={
        "account_id": "123456789012", "region": "eu-west-1", "results": [{
            "Body": json.dumps({"predictions": [{"probability": 0.9}, {"probability": 0.2}]}),
            "ContentType": "application/json", "InvokedProductionVariant": "AllTraffic"}, {
            # The health check's example row (moto's default body is not a prediction).
            "Body": json.dumps({"predictions": [{"probability": 0.4}]}),
            "ContentType": "application/json", "InvokedProductionVariant": "AllTraffic"}]}).raise_for_status()
    model = register("sm-moto-v1", "aws-sagemaker", endpoint=moto_server, type="classification",
                     credentials=CREDENTIALS, config={"endpointName": "deal-moto", "controlEndpoint": moto_server})
    rows = [{"amount": 900, "segment": "enterprise"}, {"amount": 10, "segment": "smb"}]
    results = predict_batch(api, "sm-moto-v1", rows).json()["results"]
    assert [r["prediction"]["probability"] for r in results] == [0.9, 0.2]
    assert [r["confidence"] for r in results] == [pytest.approx(90.0), pytest.approx(80.0)]
    health = provider_for(model).health_check(model)
    assert health.ok and "InService" in health.detail and "scored one example row" in health.detail


@pytest.mark.parametrize(("body", "content_type"), [
    (b"<html><body>502 Bad Gateway</body></html>", "text/html"),
    (b"Traceback (most recent call last):\n  ValueError: bad input", "text/plain"),
])
def test_it_refuses_a_body_that_is_neither_json_nor_csv(api, server, deal, body, content_type):
    server.handle = lambda request: Reply(200, body, headers={"Content-Type": content_type})
    response = predict(api, "sm-deal-v1", ROW)
    assert response.status_code == 502, response.content
    error = response.json()["error"]
    assert error["reason"] == "malformed_response"
    assert "neither JSON nor CSV" in error["message"]
