"""Registry writes. Each one validates, saves, bumps the model's revision when answers may
change, and tells every process that the registry changed."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction

from core import generations
from hotcrm_ai.errors import Conflict, PreconditionFailed
from ml import artifacts
from registry.audit import SYSTEM, Actor, changes_record, snapshot
from registry.crypto import artifact_key, decrypt_credentials, encrypt_credentials
from registry.models import MLModel, ModelArtifact, ModelStatus, Provider, RegistryChange
from registry.requirements import provider_requirement_errors
from registry.selectors import GENERATION_KEY, artifact_latest_meta

if TYPE_CHECKING:
    from ml.builtin.training import TrainingResult

Progress = Callable[[int, int, str], None]

# Fields whose change can change a model's answers: the cache must not serve old ones.
# (cache_ttl too: entries stored under a longer TTL must not outlive a shorter new one.)
ANSWER_FIELDS = {"version", "provider", "provider_config", "feature_schema", "credentials_encrypted",
                 "cache_ttl"}


def registry_changed() -> None:
    generations.bump(GENERATION_KEY)


def _save(model: MLModel, *, bump: bool) -> MLModel:
    if bump and model.pk and MLModel.objects.filter(pk=model.pk).exists():
        model.revision += 1
    model.full_clean()
    model.save()
    transaction.on_commit(registry_changed)
    return model


def _check_provider_requirements(model: MLModel, credentials: dict[str, Any]) -> None:
    if problems := provider_requirement_errors(model.provider, model.provider_config, credentials):
        raise ValidationError({"provider_config": problems})


@transaction.atomic
def model_register(
    *, data: dict[str, Any], credentials: dict[str, Any] | None = None, actor: Actor = SYSTEM
) -> MLModel:
    model = MLModel(**data)
    model.credentials_encrypted = encrypt_credentials(credentials or {})
    model.full_clean(validate_unique=True)
    _check_provider_requirements(model, credentials or {})
    model.save(force_insert=True)
    changes_record(model_id=model.pk, action=RegistryChange.Action.CREATE, before=None,
                   after=snapshot(model), actor=actor,
                   credentials_changed=sorted(credentials) if credentials else None)
    transaction.on_commit(registry_changed)
    return model


@transaction.atomic
def model_update(
    *, model: MLModel, data: dict[str, Any], credentials: dict[str, Any] | None = None,
    actor: Actor = SYSTEM, action: str = RegistryChange.Action.UPDATE,
    expected_etag: str | None = None, merge_provider_config: bool = False,
) -> MLModel:
    """Apply `data` (model field names); `credentials=None` keeps the stored ones.

    The change is applied to the stored row, locked for the transaction, never to the copy
    the caller read: two concurrent writes of different fields both stay, and a credential
    rotation cannot be undone by an edit that started before it. `expected_etag` (the ETag a
    client sent as If-Match) makes a write that started from an older row a 412.
    `merge_provider_config` keeps the stored providerConfig keys the change does not name."""
    model = MLModel.objects.select_for_update().get(pk=model.pk)
    if expected_etag is not None and model.etag != expected_etag:
        raise PreconditionFailed(
            f"'{model.pk}' changed since it was read (ETag {model.etag}, If-Match {expected_etag}); "
            "read it again and reapply the change.")
    if merge_provider_config and "provider_config" in data:
        data = {**data, "provider_config": {**(model.provider_config or {}), **data["provider_config"]}}
    before = snapshot(model)
    changed = set()
    for field, value in data.items():
        if getattr(model, field) != value:
            setattr(model, field, value)
            changed.add(field)
    if credentials is not None:
        model.credentials_encrypted = encrypt_credentials(credentials)
        changed.add("credentials_encrypted")
    if changed & {"provider", "provider_config", "credentials_encrypted"}:
        _check_provider_requirements(model, decrypt_credentials(model.credentials_encrypted))
    _save(model, bump=bool(changed & ANSWER_FIELDS))
    changes_record(model_id=model.pk, action=action, before=before, after=snapshot(model), actor=actor,
                   credentials_changed=sorted(credentials) if credentials is not None else None)
    return model


@transaction.atomic
def model_delete(*, model: MLModel, actor: Actor = SYSTEM, expected_etag: str | None = None) -> None:
    model = MLModel.objects.select_for_update().get(pk=model.pk)
    if expected_etag is not None and model.etag != expected_etag:
        raise PreconditionFailed(f"'{model.pk}' changed since it was read; read it again first.")
    before = snapshot(model)
    model.delete()
    changes_record(model_id=before["id"], action=RegistryChange.Action.DELETE, before=before,
                   after=None, actor=actor)
    transaction.on_commit(registry_changed)


@transaction.atomic
def model_promote(*, model_id: str, actor: Actor = SYSTEM) -> MLModel:
    """End the A/B test of challenger `model_id` in its favour: from now on it answers all
    of its traffic. The old champion stays registered and active with all its history, and
    the ended test keeps its champion on record so its report stays readable."""
    challenger = MLModel.objects.select_for_update().filter(pk=model_id).first()
    if challenger is None:
        from hotcrm_ai.errors import NotFound

        raise NotFound(f"No model '{model_id}' is registered.", code="model_not_found")
    if not challenger.ab_test_is_running():
        raise Conflict(f"'{model_id}' is not the challenger of a running A/B test.", code="no_ab_test")
    if not challenger.is_active:
        raise Conflict(f"'{model_id}' is {challenger.status}; only an active challenger can be promoted.",
                       code="model_not_active")
    return model_update(
        model=challenger, data={"ab_enabled": False, "ab_traffic_percentage": 100.0},
        actor=actor, action=RegistryChange.Action.PROMOTE,
    )


def artifact_store(*, model: MLModel, result: TrainingResult) -> ModelArtifact:
    blob = artifacts.dumps(result.predictor, artifact_key())
    artifact = ModelArtifact.objects.create(
        model=model, version=model.version, blob=blob,
        sha256=hashlib.sha256(blob).hexdigest(), training_rows=result.training_rows,
    )
    return artifact


@transaction.atomic
def builtin_model_train(*, model_id: str, progress: Progress | None = None) -> MLModel:
    """Train one built-in model and register (or refresh) it with its measured metrics."""
    from ml.builtin.training import CATALOG, train_builtin  # training libraries load only here

    spec = CATALOG[model_id]
    result = train_builtin(model_id, progress=progress)
    model = MLModel.objects.filter(pk=model_id).first()
    fields = {
        "name": spec.name, "version": spec.version, "type": spec.type, "provider": Provider.LOCAL,
        "description": result.description, "feature_schema": result.feature_schema,
        "metrics": result.metrics,
    }
    if model is None:
        model = MLModel(id=model_id, status=ModelStatus.ACTIVE, **fields)
        model.full_clean()
        model.save(force_insert=True)
    else:
        for field, value in fields.items():
            setattr(model, field, value)
        _save(model, bump=True)
    artifact_store(model=model, result=result)
    transaction.on_commit(registry_changed)
    return model


def builtin_ab_settings_apply() -> None:
    """The source documents' example: lead-scoring-v2 challenges v1 with 20% of traffic."""
    challenger = MLModel.objects.filter(pk="lead-scoring-v2").first()
    champion = MLModel.objects.filter(pk="lead-scoring-v1").first()
    if challenger and champion and challenger.ab_champion_id is None:
        model_update(
            model=challenger,
            data={"ab_enabled": True, "ab_traffic_percentage": 20.0, "ab_champion": champion},
        )


def builtin_models_missing() -> list[str]:
    from ml.builtin.training import CATALOG

    missing = []
    for model_id in CATALOG:
        model = MLModel.objects.filter(pk=model_id).first()
        if model is None or artifact_latest_meta(model) is None:
            missing.append(model_id)
    return missing


def _next_id(base_id: str) -> str:
    n = 1
    while MLModel.objects.filter(pk=f"{base_id}-csv{n}").exists():
        n += 1
    return f"{base_id}-csv{n}"


def _bump_version(version: str, n: int) -> str:
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", version)
    if not match:
        return f"{version}-csv{n}"
    major, minor, _ = (int(g) for g in match.groups())
    return f"{major}.{minor + n}.0"


@transaction.atomic
def model_train_from_csv(*, base_model_id: str, path: str) -> MLModel:
    """Retrain a built-in model on a user's CSV; registered as a new model in `testing`."""
    from ml.builtin.training import CATALOG, train_from_csv

    base = MLModel.objects.filter(pk=base_model_id).first()
    if base is None or base_model_id not in CATALOG:
        raise ValueError(f"'{base_model_id}' is not a built-in model that can be retrained.")
    result = train_from_csv(base_model_id, path)
    new_id = _next_id(base_model_id)
    model = MLModel(
        id=new_id, name=f"{base.name} (retrained from CSV)",
        version=_bump_version(base.version, int(new_id.rsplit("csv", 1)[1])),
        type=base.type, provider=Provider.LOCAL, status=ModelStatus.TESTING,
        description=result.description, feature_schema=result.feature_schema,
        metrics=result.metrics, cache_ttl=base.cache_ttl,
    )
    model.full_clean()
    model.save(force_insert=True)
    artifact_store(model=model, result=result)
    transaction.on_commit(registry_changed)
    return model


def model_artifact_upload(*, model: MLModel, data: bytes, actor: Actor = SYSTEM) -> tuple[MLModel, dict[str, Any]]:
    """Bring your own model: an ONNX file becomes the `local` model's artifact. It is checked
    (size, format, opset, inputs against the featureSchema, or a schema proposed from its
    inputs when the model has none), run once on an example row, then stored in the database
    like a trained artifact. Returns the model and what was found in the file."""
    from django.conf import settings

    from hotcrm_ai.errors import ApplicationError, InvalidInput, NotSupported
    from ml import onnx_model
    from ml.schema import example_row

    if model.provider != Provider.LOCAL:
        raise NotSupported(f"'{model.pk}' is served by {model.provider}; only local models take an uploaded "
                           "artifact.", code="artifact_not_supported")
    limit = settings.HOTCRM["ONNX_MAX_BYTES"]
    if len(data) > limit:
        raise ApplicationError(f"The file has {len(data):,} bytes; the limit is {limit:,}.",
                               code="artifact_too_large", status=413)
    try:
        signature = onnx_model.inspect(data)
        schema = model.feature_schema if (model.feature_schema or {}).get("features") else \
            onnx_model.proposed_schema(signature)
        onnx_model.check_inputs(signature, schema)
        kind = "classification" if signature.is_classifier else "regression"
        if model.type != kind:
            raise onnx_model.OnnxError(f"The file is a {kind} model; '{model.pk}' is registered as {model.type}.")
        predictor = onnx_model.OnnxPredictor(data, schema, (model.provider_config or {}).get("config"))
        predictor.predict_batch([example_row(schema)])
    except onnx_model.OnnxError as exc:
        raise InvalidInput(str(exc), code="invalid_onnx") from None
    except Exception as exc:  # onnxruntime refusing the graph or failing to run it
        raise InvalidInput(f"onnxruntime cannot run the model: {str(exc).splitlines()[0][:200]}",
                           code="invalid_onnx") from None
    return _artifact_store_onnx(model, data, schema, actor), signature.describe()


@transaction.atomic
def _artifact_store_onnx(model: MLModel, data: bytes, schema: dict[str, Any], actor: Actor) -> MLModel:
    previous = artifact_latest_meta(model)
    digest = hashlib.sha256(data).hexdigest()
    ModelArtifact.objects.create(model=model, version=model.version, blob=artifacts.onnx_blob(data),
                                 sha256=digest, training_rows=0)
    changes_record(model_id=model.pk, action=RegistryChange.Action.UPDATE,
                   before={"artifact": previous[1] if previous else None},
                   after={"artifact": f"onnx sha256:{digest}"}, actor=actor)
    model.feature_schema = schema
    return _save(model, bump=True)  # a new revision: processes load the new artifact, the cache moves on

