"""Who may do what: service tokens predict, explain and read; only staff tokens or admin
users change the registry or clear the cache; pages need a login."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apiauth.models import ApiToken
from apiauth.services import token_create, token_revoke
from registry.models import MLModel

pytestmark = pytest.mark.django_db

LEAD = {"company_size": 250, "industry": "Technology", "engagement_score": 85,
        "job_title": "VP of Sales", "budget": 120000}
NEW = {"id": "audit-v1", "name": "Audit", "version": "1", "type": "classification",
       "featureSchema": {"features": [{"name": "x", "type": "number"}]}}

# (method, path, body) any caller with a valid token may call.
READ_AND_PREDICT = [
    ("get", "/api/v1/models/", None),
    ("get", "/api/v1/models/lead-scoring-v1/", None),
    ("post", "/api/v1/predictions/", {"modelId": "lead-scoring-v1", "features": LEAD}),
    ("post", "/api/v1/predictions/batch/", {"modelId": "lead-scoring-v1", "features": [LEAD]}),
]
# Only staff tokens and admin users.
STAFF_ONLY = [
    ("post", "/api/v1/models/", NEW),
    ("patch", "/api/v1/models/lead-scoring-v1/", {"description": "changed"}),
    ("delete", "/api/v1/models/churn-prediction-v1/", None),
]


def call(client, method: str, path: str, body):
    return getattr(client, method)(path, body, format="json") if body is not None else getattr(client, method)(path)


def registry_state():
    return list(MLModel.objects.order_by("pk").values_list("pk", "description", "updated_at"))


@pytest.mark.parametrize(("method", "path", "body"), READ_AND_PREDICT + STAFF_ONLY)
def test_it_answers_401_without_a_token(method, path, body):
    from rest_framework.test import APIClient

    before = registry_state()
    response = call(APIClient(), method, path, body)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Token"
    assert registry_state() == before


@pytest.mark.parametrize(("method", "path", "body"), READ_AND_PREDICT)
def test_it_lets_a_service_token_read_and_predict(api, method, path, body):
    assert call(api, method, path, body).status_code == 200


@pytest.mark.parametrize(("method", "path", "body"), STAFF_ONLY)
def test_it_forbids_a_service_token_to_change_the_registry(api, method, path, body):
    before = registry_state()
    response = call(api, method, path, body)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert registry_state() == before


@pytest.mark.parametrize(("method", "path", "body"), STAFF_ONLY)
def test_it_lets_a_staff_token_change_the_registry(staff_api, method, path, body):
    assert call(staff_api, method, path, body).status_code in (200, 201, 204)


def test_it_refuses_a_revoked_token_at_once(api):
    assert api.get("/api/v1/models/").status_code == 200
    token_revoke(token=ApiToken.objects.get(name="service"))
    assert api.get("/api/v1/models/").status_code == 401


def test_it_stores_only_a_hash_of_each_key():
    token, key = token_create(name="hashed")
    row = ApiToken.objects.filter(pk=token.pk).values().get()
    assert key not in str(row)


def test_it_lets_an_admin_user_change_the_registry_with_a_session_and_csrf_token():
    User.objects.create_superuser("admin", "a@example.com", "correct horse battery")
    client = Client(enforce_csrf_checks=True)
    client.login(username="admin", password="correct horse battery")
    without_csrf = client.patch("/api/v1/models/lead-scoring-v1/", {"description": "x"},
                                content_type="application/json")
    assert without_csrf.status_code == 403
    client.get("/admin/")  # sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    with_csrf = client.patch("/api/v1/models/lead-scoring-v1/", {"description": "x"},
                             content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
    assert with_csrf.status_code == 200


def test_it_forbids_a_logged_in_non_staff_user_to_change_the_registry():
    user = User.objects.create_user("viewer", password="correct horse battery")
    client = Client()
    client.force_login(user)
    response = client.delete("/api/v1/models/churn-prediction-v1/")
    assert response.status_code == 403
    assert MLModel.objects.filter(pk="churn-prediction-v1").exists()


def test_it_asks_for_a_login_before_the_admin():
    response = Client().get("/admin/registry/mlmodel/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_it_refuses_an_admin_login_without_a_csrf_token():
    User.objects.create_superuser("admin", "a@example.com", "correct horse battery")
    response = Client(enforce_csrf_checks=True).post(
        "/admin/login/", {"username": "admin", "password": "correct horse battery"})
    assert response.status_code == 403


def test_it_locks_an_account_after_repeated_failed_logins():
    User.objects.create_superuser("admin", "a@example.com", "correct horse battery")
    client = Client()
    for _ in range(5):
        response = client.post("/admin/login/?next=/admin/", {"username": "admin", "password": "guess"})
        assert response.status_code == 200  # the form again, with an error
    locked = client.post("/admin/login/?next=/admin/", {"username": "admin", "password": "correct horse battery"})
    assert locked.status_code == 200 and "_auth_user_id" not in client.session
    # Another address guessing the same account is locked out too.
    other = Client(REMOTE_ADDR="10.0.0.9")
    other.post("/admin/login/?next=/admin/", {"username": "admin", "password": "correct horse battery"})
    assert "_auth_user_id" not in other.session


def test_it_lets_a_good_login_through_and_forgets_earlier_failures():
    User.objects.create_superuser("admin", "a@example.com", "correct horse battery")
    client = Client()
    for _ in range(4):
        client.post("/admin/login/", {"username": "admin", "password": "guess"})
    ok = client.post("/admin/login/?next=/admin/", {"username": "admin", "password": "correct horse battery"})
    assert ok.status_code == 302
    client.logout()
    for _ in range(4):
        client.post("/admin/login/", {"username": "admin", "password": "guess"})
    again = client.post("/admin/login/?next=/admin/", {"username": "admin", "password": "correct horse battery"})
    assert again.status_code == 302


def test_it_locks_an_address_that_guesses_many_accounts():
    User.objects.create_superuser("admin", "a@example.com", "correct horse battery")
    client = Client(REMOTE_ADDR="10.0.0.7")
    for i in range(20):
        client.post("/admin/login/", {"username": f"user{i}", "password": "guess"})
    client.post("/admin/login/?next=/admin/", {"username": "admin", "password": "correct horse battery"})
    assert "_auth_user_id" not in client.session
    elsewhere = Client(REMOTE_ADDR="10.0.0.8")
    elsewhere.post("/admin/login/?next=/admin/", {"username": "admin", "password": "correct horse battery"})
    assert "_auth_user_id" in elsewhere.session


# --- the newer endpoints (feedback, explanations, reports, monitoring, cache, A/B) -------------
LEAD_B = {**LEAD, "engagement_score": 10, "budget": 5000}
SERVICE_NEWER = [
    ("post", "/api/v1/explanations/", {"modelId": "lead-scoring-v1", "features": LEAD}, 200),
    ("post", "/api/v1/explanations/compare/",
     {"modelId": "lead-scoring-v1", "features1": LEAD, "features2": LEAD_B}, 200),
    ("post", "/api/v1/reports/query/", {"question": "How many predictions per model?"}, 200),
    ("get", "/api/v1/models/lead-scoring-v1/stats/", None, 200),
    ("get", "/api/v1/models/lead-scoring-v1/health/", None, 200),
    ("get", "/api/v1/stats/", None, 200),
    ("get", "/api/v1/cache/stats/", None, 200),
    ("get", "/api/v1/models/lead-scoring-v2/ab-test/", None, 200),
]
STAFF_ONLY_NEWER = [
    ("delete", "/api/v1/cache/", None),
    ("post", "/api/v1/models/lead-scoring-v2/promote/", None),
]
FEEDBACK = "/api/v1/predictions/00000000-0000-4000-8000-000000000000/feedback/"


@pytest.fixture
def ab_test():
    from registry import services

    services.model_update(model=MLModel.objects.get(pk="lead-scoring-v2"), data={"ab_traffic_percentage": 50})


@pytest.mark.parametrize(("method", "path", "body", "status"), SERVICE_NEWER)
def test_it_lets_a_service_token_explain_query_and_read_the_newer_endpoints(api, ab_test, method, path, body,
                                                                           status):
    response = call(api, method, path, body)
    assert response.status_code == status, response.content


def test_it_lets_a_service_token_post_feedback(api):
    body = api.post("/api/v1/predictions/", {"modelId": "lead-scoring-v1", "features": LEAD}, format="json").json()
    response = api.post(f"/api/v1/predictions/{body['metadata']['predictionId']}/feedback/",
                        {"actual": body["prediction"]["class"]}, format="json")
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(("method", "path", "body"), STAFF_ONLY_NEWER)
def test_it_forbids_a_service_token_to_clear_the_cache_or_promote(api, ab_test, method, path, body):
    before = registry_state()
    response = call(api, method, path, body)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert registry_state() == before


@pytest.mark.parametrize(("method", "path", "body"), STAFF_ONLY_NEWER)
def test_it_lets_a_staff_token_clear_the_cache_and_promote(staff_api, ab_test, method, path, body):
    assert call(staff_api, method, path, body).status_code in (200, 204)


@pytest.mark.parametrize(("method", "path", "body"),
                         [(m, p, b) for m, p, b, _ in SERVICE_NEWER] + STAFF_ONLY_NEWER
                         + [("post", FEEDBACK, {"actual": "hot"})])
def test_it_answers_401_on_the_newer_endpoints_without_a_token(ab_test, method, path, body):
    from rest_framework.test import APIClient

    before = registry_state()
    response = call(APIClient(), method, path, body)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert registry_state() == before


@pytest.mark.parametrize("path", ["/healthz", "/metrics"])
def test_it_serves_health_and_prometheus_metrics_without_a_token(path):
    assert Client().get(path).status_code == 200


@pytest.mark.parametrize("path", ["/dashboard/", "/dashboard/models/lead-scoring-v1/", "/dashboard/ask/"])
def test_it_sends_an_anonymous_visitor_of_the_dashboard_to_the_login(path):
    response = Client().get(path)
    assert response.status_code == 302
    assert "login" in response["Location"]
