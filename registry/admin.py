from __future__ import annotations

import json

from django import forms
from django.contrib import admin

from registry import services
from registry.crypto import decrypt_credentials
from registry.models import MLModel, ModelArtifact

SECRET_FIELDS = ("api_key", "access_key_id", "secret_access_key", "session_token")
CREDENTIAL_NAMES = {
    "api_key": "apiKey", "access_key_id": "accessKeyId",
    "secret_access_key": "secretAccessKey", "session_token": "sessionToken",
    "region": "region", "api_key_env": "apiKeyEnv",
}


class MLModelForm(forms.ModelForm):
    """Credentials are write-only: the inputs are always empty; blank keeps the stored value."""

    api_key = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False),
                              help_text="Leave blank to keep the stored key.")
    access_key_id = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))
    secret_access_key = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))
    session_token = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))
    region = forms.CharField(required=False)
    api_key_env = forms.CharField(required=False, label="API key from environment variable",
                                  help_text="Name of an environment variable holding the key.")
    clear_credentials = forms.BooleanField(required=False, help_text="Remove all stored credentials.")

    class Meta:
        model = MLModel
        fields = [
            "id", "name", "version", "type", "status", "description", "provider", "provider_config",
            "fallback_model", "ab_enabled", "ab_mode", "ab_traffic_percentage", "ab_champion",
            "feature_schema", "cache_ttl", "health_thresholds",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stored = decrypt_credentials(self.instance.credentials_encrypted) if self.instance.pk else {}
        for field, key in CREDENTIAL_NAMES.items():
            if field in SECRET_FIELDS and key in stored:
                self.fields[field].help_text = "Set (hidden). Leave blank to keep it."
        self.fields["region"].initial = stored.get("region", "")
        self.fields["api_key_env"].initial = stored.get("apiKeyEnv", "")

    def credentials(self) -> dict[str, str] | None:
        """The credentials to store, or None when nothing changed."""
        if self.cleaned_data.get("clear_credentials"):
            return {}
        stored = decrypt_credentials(self.instance.credentials_encrypted) if self.instance.pk else {}
        changed = dict(stored)
        for field, key in CREDENTIAL_NAMES.items():
            value = (self.cleaned_data.get(field) or "").strip()
            if field in SECRET_FIELDS:
                if value:
                    changed[key] = value
            elif value:
                changed[key] = value
            else:
                changed.pop(key, None)
        return None if changed == stored else changed


@admin.register(MLModel)
class MLModelAdmin(admin.ModelAdmin):
    form = MLModelForm
    list_display = ["id", "name", "version", "type", "provider", "status", "ab_summary", "cache_ttl", "updated_at"]
    list_filter = ["status", "type", "provider", "ab_enabled"]
    search_fields = ["id", "name", "description"]
    readonly_fields = ["revision", "metrics_table", "health_panel", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["id", "name", "version", "type", "status", "description"]}),
        ("Current health", {"fields": ["health_panel"]}),
        ("Provider", {"fields": ["provider", "provider_config", "api_key", "access_key_id",
                                 "secret_access_key", "session_token", "region", "api_key_env",
                                 "clear_credentials", "fallback_model"]}),
        ("A/B test", {"fields": ["ab_enabled", "ab_mode", "ab_traffic_percentage", "ab_champion"]}),
        ("Serving", {"fields": ["feature_schema", "cache_ttl", "health_thresholds"]}),
        ("Measured", {"fields": ["metrics_table", "revision", "created_at", "updated_at"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "id"] if obj else self.readonly_fields

    @admin.display(description="A/B")
    def ab_summary(self, obj: MLModel) -> str:
        if not obj.ab_enabled:
            return "—"
        return f"{obj.ab_traffic_percentage:g}% vs {obj.ab_champion_id} ({obj.ab_mode})"

    @admin.display(description="Metrics (measured on held-out data)")
    def metrics_table(self, obj: MLModel) -> str:
        return json.dumps(obj.metrics, indent=2) if obj.metrics else "—"

    @admin.display(description="Health and stats")
    def health_panel(self, obj: MLModel) -> str:
        from monitoring.admin_panel import health_panel

        return health_panel(obj)

    def save_model(self, request, obj, form, change):
        credentials = form.credentials()
        data = {f: form.cleaned_data[f] for f in form.changed_data if f in {x.name for x in MLModel._meta.fields}}
        if change:
            fresh = MLModel.objects.get(pk=obj.pk)
            services.model_update(model=fresh, data=data, credentials=credentials)
        else:
            fields = {f.name: getattr(obj, f.name) for f in MLModel._meta.fields
                      if f.editable and f.name not in ("credentials_encrypted",)}
            services.model_register(data=fields, credentials=credentials)


@admin.register(ModelArtifact)
class ModelArtifactAdmin(admin.ModelAdmin):
    list_display = ["model", "version", "sha256", "training_rows", "created_at"]
    list_filter = ["model"]
    exclude = ["blob"]
    readonly_fields = ["model", "version", "sha256", "training_rows", "created_at"]

    def has_add_permission(self, request):
        return False
