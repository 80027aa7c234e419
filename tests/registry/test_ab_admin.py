"""A/B settings in the registry: champion validation, promotion in one transaction, and the
audit trail of every registry edit made through the admin or the API."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from hotcrm_ai.errors import Conflict
from predictions.models import PredictionLog
from registry import services
from registry.audit import Actor
from registry.models import MLModel, ModelStatus, RegistryChange
from tests.predictions.test_apis import LEAD, predict

pytestmark = pytest.mark.django_db
CHANGE_URL = "/admin/registry/mlmodel/{}/change/"


@pytest.fixture
def admin_client(client):
    user = User.objects.create_superuser("ada", "ada@example.com", "a-long-password-1")
    client.force_login(user)
    return client


def change_form(model: MLModel, **overrides) -> dict:
    data = {
        "name": model.name, "version": model.version, "type": model.type, "status": model.status,
        "description": model.description, "provider": model.provider,
        "provider_config": "{}", "fallback_model": "", "ab_enabled": "on" if model.ab_enabled else "",
        "ab_mode": model.ab_mode, "ab_traffic_percentage": model.ab_traffic_percentage,
        "ab_champion": model.ab_champion_id or "", "feature_schema": _json(model.feature_schema),
        "cache_ttl": model.cache_ttl, "health_thresholds": "{}",
    }
    data.update(overrides)
    return data


def _json(value) -> str:
    import json

    return json.dumps(value)


def post_change(admin_client, model_id: str, **overrides):
    model = MLModel.objects.get(pk=model_id)
    data = change_form(model, **overrides)
    if not data["ab_enabled"]:
        data.pop("ab_enabled")
    return admin_client.post(CHANGE_URL.format(model_id), data)


def test_it_refuses_an_enabled_test_without_a_champion_in_the_admin(admin_client):
    response = post_change(admin_client, "lead-scoring-v2", ab_champion="")
    assert response.status_code == 200
    assert "An enabled A/B test needs a champion model." in response.content.decode()
    assert MLModel.objects.get(pk="lead-scoring-v2").ab_champion_id == "lead-scoring-v1"


def test_it_refuses_an_inactive_champion_in_the_admin(admin_client):
    MLModel.objects.filter(pk="churn-prediction-v1").update(status=ModelStatus.INACTIVE)
    response = post_change(admin_client, "lead-scoring-v2", ab_champion="churn-prediction-v1")
    assert "The champion &#x27;churn-prediction-v1&#x27; is inactive, not active." in response.content.decode()
    assert MLModel.objects.get(pk="lead-scoring-v2").ab_champion_id == "lead-scoring-v1"


def test_it_refuses_a_champion_that_is_itself_in_a_test(admin_client):
    services.model_register(data={
        "id": "lead-scoring-v3", "name": "Lead v3", "version": "3.0.0", "type": "classification",
        "feature_schema": MLModel.objects.get(pk="lead-scoring-v2").feature_schema,
    })
    response = post_change(admin_client, "lead-scoring-v3", ab_enabled="on", ab_traffic_percentage=10,
                           ab_champion="lead-scoring-v2")
    assert "is itself the challenger of an A/B test" in response.content.decode()
    assert not MLModel.objects.get(pk="lead-scoring-v3").ab_enabled


def test_it_refuses_to_deactivate_a_champion_in_a_running_test(admin_client):
    response = post_change(admin_client, "lead-scoring-v1", status="inactive")
    assert "is the champion of lead-scoring-v2; end or promote that test first." in response.content.decode()
    assert MLModel.objects.get(pk="lead-scoring-v1").is_active


def test_it_refuses_to_make_a_champion_a_challenger(staff_api):
    response = staff_api.patch("/api/v1/models/lead-scoring-v1/", {"abTest": {
        "enabled": True, "trafficPercentage": 10, "championModelId": "churn-prediction-v1"}}, format="json")
    assert response.status_code == 400
    assert not MLModel.objects.get(pk="lead-scoring-v1").ab_enabled


def test_it_records_who_changed_which_setting_in_the_admin(admin_client):
    response = post_change(admin_client, "lead-scoring-v2", ab_traffic_percentage=30)
    assert response.status_code == 302, response.content.decode()[:2000]
    # source="admin": when the built-in models are trained afresh for a session, the system
    # already recorded setting 20 % (0 -> 20) on lead-scoring-v2.
    change = RegistryChange.objects.get(model_id="lead-scoring-v2", field="ab_traffic_percentage", source="admin")
    assert (change.old_value, change.new_value) == (20.0, 30.0)
    assert (change.actor, change.source, change.action) == ("ada", "admin", "update")
    assert not RegistryChange.objects.filter(model_id="lead-scoring-v2", field="name").exists()


def test_it_records_api_edits_with_the_token_and_never_a_credential(staff_api, staff_token):
    response = staff_api.patch("/api/v1/models/lead-scoring-v1/", {
        "cacheTtl": 60, "providerConfig": {"credentials": {"apiKey": "sk-very-secret"}}}, format="json")
    assert response.status_code == 200, response.content
    changes = {c.field: c for c in RegistryChange.objects.filter(model_id="lead-scoring-v1")}
    assert (changes["cache_ttl"].old_value, changes["cache_ttl"].new_value) == (300, 60)
    assert changes["cache_ttl"].actor == "token:staff" and changes["cache_ttl"].source == "api"
    assert changes["credentials"].new_value == {"set": ["apiKey"]}
    trail = staff_api.get("/api/v1/models/lead-scoring-v1/changes/").json()
    assert "sk-very-secret" not in str(trail) and trail["count"] == len(changes)
    assert {"modelId", "field", "oldValue", "newValue", "actor", "source", "changedAt"} <= set(trail["results"][0])


def test_it_records_registration_and_deletion(staff_api):
    body = {"id": "tmp-model", "name": "Tmp", "version": "1", "type": "classification"}
    assert staff_api.post("/api/v1/models/", body, format="json").status_code == 201
    assert staff_api.delete("/api/v1/models/tmp-model/").status_code == 204
    actions = set(RegistryChange.objects.filter(model_id="tmp-model").values_list("action", flat=True))
    assert actions == {"create", "delete"}


def test_it_keeps_the_trail_to_staff(api):
    assert api.get("/api/v1/models/lead-scoring-v1/changes/").status_code == 403


def test_it_promotes_a_challenger_through_the_api(staff_api, api, django_capture_on_commit_callbacks):
    for n in range(30):
        predict(api, "lead-scoring-v2", LEAD, context={"objectId": f"L-{n}"})
    champion_logs = PredictionLog.objects.filter(model_id="lead-scoring-v1").count()
    with django_capture_on_commit_callbacks(execute=True):  # tells every process the registry moved
        response = staff_api.post("/api/v1/models/lead-scoring-v2/promote/")
    assert response.status_code == 200, response.content
    assert response.json()["abTest"]["enabled"] is False
    for n in range(30):
        body = predict(api, "lead-scoring-v2", LEAD, context={"objectId": f"L-{n}"}).json()
        assert body["modelId"] == "lead-scoring-v2" and body["metadata"]["abTestArm"] is None
    old = MLModel.objects.get(pk="lead-scoring-v1")
    assert old.is_active and PredictionLog.objects.filter(model_id="lead-scoring-v1").count() == champion_logs
    promoted = RegistryChange.objects.filter(model_id="lead-scoring-v2", action="promote")
    assert {c.field for c in promoted} == {"ab_enabled", "ab_traffic_percentage"}
    assert {c.actor for c in promoted} == {"token:staff"}
    # The ended test's report stays readable.
    assert staff_api.get("/api/v1/models/lead-scoring-v2/ab-test/").json()["enabled"] is False


def test_it_refuses_promotion_without_a_running_test_or_a_staff_token(staff_api, api):
    assert api.post("/api/v1/models/lead-scoring-v2/promote/").status_code == 403
    response = staff_api.post("/api/v1/models/churn-prediction-v1/promote/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "no_ab_test"
    assert staff_api.post("/api/v1/models/nope/promote/").status_code == 404
    assert not RegistryChange.objects.filter(action="promote").exists()


def test_it_promotes_in_one_transaction(monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(services, "changes_record", broken)
    with pytest.raises(RuntimeError):
        services.model_promote(model_id="lead-scoring-v2", actor=Actor("ada", "admin"))
    assert MLModel.objects.get(pk="lead-scoring-v2").ab_enabled  # nothing half-done


def test_it_promotes_from_the_admin_action(admin_client):
    response = admin_client.post("/admin/registry/mlmodel/", {
        "action": "promote_challengers", "_selected_action": ["lead-scoring-v2", "churn-prediction-v1"],
    }, follow=True)
    text = response.content.decode()
    assert "Promoted lead-scoring-v2: it now answers all of its traffic." in text
    assert "&#x27;churn-prediction-v1&#x27; is not the challenger of a running A/B test." in text
    assert not MLModel.objects.get(pk="lead-scoring-v2").ab_enabled
    assert RegistryChange.objects.filter(action="promote", actor="ada", source="admin").exists()


def test_it_shows_the_ab_report_on_the_model_page(admin_client, api):
    for n in range(20):
        predict(api, "lead-scoring-v2", LEAD, context={"objectId": f"L-{n}"})
    text = admin_client.get(CHANGE_URL.format("lead-scoring-v2")).content.decode()
    assert 'class="ab-report"' in text and "not enough evidence yet: about" in text
    assert "two-proportion z-test" in text


def test_it_raises_conflict_for_promoting_an_inactive_challenger():
    MLModel.objects.filter(pk="lead-scoring-v2").update(status=ModelStatus.TESTING)
    with pytest.raises(Conflict):
        services.model_promote(model_id="lead-scoring-v2")
