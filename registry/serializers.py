from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.secrets import credential_errors, public_provider_config
from registry.crypto import decrypt_credentials
from registry.models import AbMode, MLModel, ModelStatus, ModelType, Provider

CREDENTIAL_KEYS = {
    "apiKey", "accessKeyId", "secretAccessKey", "sessionToken", "region",
    # The name of an environment variable holding the value instead of the value itself.
    "apiKeyEnv", "accessKeyIdEnv", "secretAccessKeyEnv", "sessionTokenEnv",
}


class AbTestSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    trafficPercentage = serializers.FloatField(min_value=0, max_value=100)
    championModelId = serializers.SlugField(allow_null=True, required=False)
    mode = serializers.ChoiceField(choices=AbMode.values, required=False, default=AbMode.SPLIT)


class ProviderConfigSerializer(serializers.Serializer):
    provider = serializers.CharField(read_only=True)
    endpoint = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    # Write-only: accepted, encrypted at rest, never returned.
    credentials = serializers.DictField(child=serializers.CharField(max_length=4000), required=False, write_only=True)
    config = serializers.DictField(required=False)
    credentialsSet = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="Which credentials are set, never their values."
    )

    def validate_credentials(self, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - CREDENTIAL_KEYS
        if unknown:
            raise serializers.ValidationError(
                f"Unknown credential keys: {', '.join(sorted(unknown))}; use {', '.join(sorted(CREDENTIAL_KEYS))}."
            )
        if problems := credential_errors(value):
            raise serializers.ValidationError(problems)
        return value


class ModelSerializer(serializers.Serializer):
    """The spec's Model, in the camelCase of the source documents."""

    id = serializers.SlugField(max_length=100)
    name = serializers.CharField(max_length=200)
    version = serializers.CharField(max_length=50)
    type = serializers.ChoiceField(choices=ModelType.values)
    provider = serializers.ChoiceField(choices=Provider.values, default=Provider.LOCAL)
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")
    status = serializers.ChoiceField(choices=ModelStatus.values, default=ModelStatus.ACTIVE)
    providerConfig = ProviderConfigSerializer(required=False)
    abTest = AbTestSerializer(required=False, allow_null=True)
    metrics = serializers.JSONField(read_only=True)
    featureSchema = serializers.JSONField(required=False, default=dict)
    cacheTtl = serializers.IntegerField(min_value=0, max_value=7 * 24 * 3600, default=300)
    fallbackModelId = serializers.SlugField(required=False, allow_null=True)
    healthThresholds = serializers.DictField(child=serializers.FloatField(), required=False)
    createdAt = serializers.DateTimeField(read_only=True)
    updatedAt = serializers.DateTimeField(read_only=True)

    def to_representation(self, model: MLModel) -> dict[str, Any]:
        # Secrets outside `credentials` (an endpoint's key, an auth header) redacted first.
        config = public_provider_config(model.provider_config)
        return {
            "id": model.id,
            "name": model.name,
            "version": model.version,
            "type": model.type,
            "provider": model.provider,
            "description": model.description,
            "status": model.status,
            "providerConfig": {
                "provider": model.provider,
                "endpoint": config.get("endpoint", ""),
                "config": config.get("config", {}),
                # Which credentials are set, never their values.
                "credentialsSet": sorted(decrypt_credentials(model.credentials_encrypted)),
            },
            "abTest": model.ab_test,
            "metrics": model.metrics,
            "featureSchema": model.feature_schema,
            "cacheTtl": model.cache_ttl,
            "fallbackModelId": model.fallback_model_id,
            "healthThresholds": model.health_thresholds,
            "createdAt": serializers.DateTimeField().to_representation(model.created_at),
            "updatedAt": serializers.DateTimeField().to_representation(model.updated_at),
        }

    def to_model_fields(self) -> tuple[dict[str, Any], dict[str, str] | None]:
        """Validated data as model field names, and the credentials (None: unchanged)."""
        data = self.validated_data
        names = {
            "id": "id", "name": "name", "version": "version", "type": "type", "provider": "provider",
            "description": "description", "status": "status", "featureSchema": "feature_schema",
            "cacheTtl": "cache_ttl", "healthThresholds": "health_thresholds",
        }
        fields = {names[k]: v for k, v in data.items() if k in names}
        credentials = None
        if "providerConfig" in data:
            config = dict(data["providerConfig"])
            credentials = config.pop("credentials", None)
            fields["provider_config"] = {k: v for k, v in config.items() if k in ("endpoint", "config")}
        if "abTest" in data:
            ab = data["abTest"]
            if ab is None:
                fields |= {"ab_enabled": False, "ab_traffic_percentage": 0, "ab_champion": None}
            else:
                fields |= {
                    "ab_enabled": ab["enabled"], "ab_traffic_percentage": ab["trafficPercentage"],
                    "ab_champion": _model_or_error(ab.get("championModelId"), "abTest.championModelId"),
                    "ab_mode": ab.get("mode", AbMode.SPLIT),
                }
        if "fallbackModelId" in data:
            fields["fallback_model"] = _model_or_error(data["fallbackModelId"], "fallbackModelId")
        return fields, credentials


def _model_or_error(model_id: str | None, field: str) -> MLModel | None:
    if model_id is None:
        return None
    model = MLModel.objects.filter(pk=model_id).first()
    if model is None:
        raise serializers.ValidationError({field: f"No model '{model_id}' is registered."})
    return model


class RegistryChangeSerializer(serializers.Serializer):
    modelId = serializers.CharField(source="model_id")
    action = serializers.CharField()
    field = serializers.CharField()
    oldValue = serializers.JSONField(source="old_value")
    newValue = serializers.JSONField(source="new_value")
    actor = serializers.CharField()
    source = serializers.CharField()  # type: ignore[assignment]  # the API's name shadows Field.source
    changedAt = serializers.DateTimeField(source="changed_at")
