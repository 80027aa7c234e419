from __future__ import annotations

import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from core.secrets import REDACTED, credential_errors, public_provider_config, restore_secrets
from hotcrm_ai.errors import ApplicationError
from registry import services
from registry.audit import actor_of
from registry.crypto import decrypt_credentials
from registry.models import MLModel, ModelArtifact, RegistryChange
from registry.requirements import provider_requirement_errors

SECRET_FIELDS = ("api_key", "access_key_id", "secret_access_key", "session_token")
CREDENTIAL_NAMES = {
    "api_key": "apiKey", "access_key_id": "accessKeyId",
    "secret_access_key": "secretAccessKey", "session_token": "sessionToken",
    "region": "region", "api_key_env": "apiKeyEnv",
    "access_key_id_env": "accessKeyIdEnv", "secret_access_key_env": "secretAccessKeyEnv",
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
    access_key_id_env = forms.CharField(required=False, label="Access key id from environment variable")
    secret_access_key_env = forms.CharField(required=False, label="Secret access key from environment variable")
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
        for field in ("api_key_env", "access_key_id_env", "secret_access_key_env"):
            self.fields[field].initial = stored.get(CREDENTIAL_NAMES[field], "")

    def clean_provider_config(self):
        """The page shows the config with its secrets as *** (MLModelAdmin.get_object): each
        *** left as it was keeps the stored secret; one that cannot (the endpoint's host
        changed) must be typed again."""
        submitted = self.cleaned_data.get("provider_config")
        stored = MLModel.objects.filter(pk=self.instance.pk).values_list("provider_config", flat=True).first() \
            if self.instance.pk else None
        config, missing = restore_secrets(submitted, stored)
        if missing:
            raise ValidationError(
                f"Type the secret in {', '.join(missing)} again: {REDACTED} stands for a stored secret, "
                "which is kept only while the request goes to the same host.")
        return config

    def clean(self):
        cleaned = super().clean()
        fields = {key: field for field, key in CREDENTIAL_NAMES.items()}
        for key, value in (self.credentials() or {}).items():
            if problems := credential_errors({key: value}):
                self.add_error(fields.get(key), problems[0])
        stored = decrypt_credentials(self.instance.credentials_encrypted) if self.instance.pk else {}
        credentials = self.credentials()
        for problem in provider_requirement_errors(
                cleaned.get("provider", ""), cleaned.get("provider_config"),
                stored if credentials is None else credentials):
            self.add_error(None, problem)
        return cleaned

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
    readonly_fields = ["revision", "metrics_table", "ab_report", "health_panel", "created_at", "updated_at"]
    actions = ["test_connection", "promote_challengers"]
    change_form_template = "admin/registry/mlmodel/change_form.html"
    fieldsets = [
        (None, {"fields": ["id", "name", "version", "type", "status", "description"]}),
        ("Current health", {"fields": ["health_panel"]}),
        ("Provider", {"fields": ["provider", "provider_config", "api_key", "access_key_id",
                                 "secret_access_key", "session_token", "region", "api_key_env",
                                 "access_key_id_env", "secret_access_key_env",
                                 "clear_credentials", "fallback_model"]}),
        ("A/B test", {"fields": ["ab_enabled", "ab_mode", "ab_traffic_percentage", "ab_champion",
                                 "ab_report"]}),
        ("Serving", {"fields": ["feature_schema", "cache_ttl", "health_thresholds"]}),
        ("Measured", {"fields": ["metrics_table", "revision", "created_at", "updated_at"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "id"] if obj else self.readonly_fields

    def get_object(self, request, object_id, from_field=None):
        """The model as every admin page shows it: the provider config's secrets (endpoint
        user info and key-like query values, credential headers) as ***, for view-only users
        and editors alike. A save puts them back (MLModelForm.clean_provider_config); writes
        always start again from the stored row (save_model, delete_model)."""
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            obj.provider_config = public_provider_config(obj.provider_config)
        return obj

    @admin.display(description="A/B")
    def ab_summary(self, obj: MLModel) -> str:
        if not obj.ab_test_is_running():
            # An ended test keeps its champion on record (see services.model_promote).
            return f"ended (was vs {obj.ab_champion_id})" if obj.ab_champion_id else "—"
        return f"{obj.ab_traffic_percentage:g}% vs {obj.ab_champion_id} ({obj.ab_mode})"

    @admin.display(description="Metrics (measured on held-out data)")
    def metrics_table(self, obj: MLModel) -> str:
        return json.dumps(obj.metrics, indent=2) if obj.metrics else "—"

    @admin.display(description="Health and stats")
    def health_panel(self, obj: MLModel) -> str:
        from monitoring.admin_panel import health_panel

        return health_panel(obj)

    # Each action needs the right it uses: a view-only admin sees the list, nothing more.
    @admin.action(description="Test connection (a real, cheap call to the provider)", permissions=["change"])
    def test_connection(self, request: HttpRequest, queryset) -> None:
        for model in queryset:
            self._report_health(request, model)

    def _report_health(self, request: HttpRequest, model: MLModel) -> None:
        from predictions.providers import health_check

        result = health_check(model)
        verdict = "connection OK" if result.ok else "connection FAILED"
        detail = f": {result.detail}" if result.detail else ""
        self.message_user(
            request, f"{model.pk} ({model.provider}): {verdict} in {result.latency_ms:.1f} ms{detail}",
            messages.SUCCESS if result.ok else messages.ERROR,
        )

    def get_urls(self):
        test = self.admin_site.admin_view(require_POST(self.test_connection_view))
        upload = self.admin_site.admin_view(self.upload_artifact_view)
        schema = self.admin_site.admin_view(require_POST(self.import_schema_view))
        return [path("<path:object_id>/test-connection/", test, name="registry_mlmodel_test_connection"),
                path("<path:object_id>/upload-artifact/", upload, name="registry_mlmodel_upload_artifact"),
                path("<path:object_id>/import-schema/", schema, name="registry_mlmodel_import_schema"),
                *super().get_urls()]

    def upload_artifact_view(self, request: HttpRequest, object_id: str):
        """Bring your own model: an ONNX file for a local model, through the API's service."""
        model = get_object_or_404(MLModel, pk=object_id)
        if not self.has_change_permission(request, model):
            raise PermissionDenied
        form = ArtifactUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                if upload.size > settings.HOTCRM["ONNX_MAX_BYTES"]:
                    raise ApplicationError(f"The file has {upload.size:,} bytes; the limit is "
                                           f"{settings.HOTCRM['ONNX_MAX_BYTES']:,}.", code="artifact_too_large")
                _, found = services.model_artifact_upload(model=model, data=upload.read(),
                                                          actor=actor_of(request, "admin"))
            except ApplicationError as exc:
                form.add_error("file", exc.message)
            else:
                self.message_user(request, f"{model.pk}: uploaded a {found['kind']} taking "
                                  f"{', '.join(i['name'] for i in found['inputs'])}; it now answers.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:registry_mlmodel_change", args=[model.pk]))
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "original": model,
                   "form": form, "title": f"Upload an ONNX model for {model.pk}",
                   "limit": settings.HOTCRM["ONNX_MAX_BYTES"]}
        return TemplateResponse(request, "admin/registry/mlmodel/upload_artifact.html", context)

    def import_schema_view(self, request: HttpRequest, object_id: str) -> HttpResponseRedirect:
        model = get_object_or_404(MLModel, pk=object_id)
        if not self.has_change_permission(request, model):
            raise PermissionDenied
        from predictions.providers import feature_schema_import

        try:
            feature_schema_import(model=model, actor=actor_of(request, "admin"))
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, f"{model.pk}: feature schema imported from its V2 server.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:registry_mlmodel_change", args=[model.pk]))

    def test_connection_view(self, request: HttpRequest, object_id: str) -> HttpResponseRedirect:
        model = get_object_or_404(MLModel, pk=object_id)
        if not self.has_change_permission(request, model):
            raise PermissionDenied
        self._report_health(request, model)
        return HttpResponseRedirect(reverse("admin:registry_mlmodel_change", args=[model.pk]))

    def save_model(self, request, obj, form, change):
        credentials = form.credentials()
        data = {f: form.cleaned_data[f] for f in form.changed_data if f in {x.name for x in MLModel._meta.fields}}
        if change:
            fresh = MLModel.objects.get(pk=obj.pk)
            services.model_update(model=fresh, data=data, credentials=credentials,
                                  actor=actor_of(request, "admin"))
        else:
            fields = {f.name: getattr(obj, f.name) for f in MLModel._meta.fields
                      if f.editable and f.name not in ("credentials_encrypted",)}
            services.model_register(data=fields, credentials=credentials, actor=actor_of(request, "admin"))

    def delete_model(self, request, obj):
        services.model_delete(model=obj, actor=actor_of(request, "admin"))

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            services.model_delete(model=obj, actor=actor_of(request, "admin"))

    @admin.display(description="A/B report")
    def ab_report(self, obj: MLModel) -> str:
        from predictions.ab.report import ab_test_report

        if obj is None or obj.ab_champion_id is None:
            return "—"
        return render_to_string("predictions/_ab_report.html", {"report": ab_test_report(obj)})

    @admin.action(description="Promote the selected challengers (end their A/B tests in their favour)",
                  permissions=["change"])
    def promote_challengers(self, request, queryset):
        for model in queryset:
            try:
                services.model_promote(model_id=model.pk, actor=actor_of(request, "admin"))
            except (ApplicationError, ValidationError) as exc:
                self.message_user(request, str(getattr(exc, "message", exc)), messages.ERROR)
            else:
                self.message_user(request, f"Promoted {model.pk}: it now answers all of its traffic.",
                                  messages.SUCCESS)


class ArtifactUploadForm(forms.Form):
    file = forms.FileField(help_text="An ONNX model (.onnx), e.g. a scikit-learn pipeline converted by skl2onnx.")


@admin.register(ModelArtifact)
class ModelArtifactAdmin(admin.ModelAdmin):
    list_display = ["model", "version", "sha256", "training_rows", "created_at"]
    list_filter = ["model"]
    exclude = ["blob"]
    readonly_fields = ["model", "version", "sha256", "training_rows", "created_at"]

    def has_add_permission(self, request):
        return False


@admin.register(RegistryChange)
class RegistryChangeAdmin(admin.ModelAdmin):
    """The audit trail, read only."""

    list_display = ["changed_at", "model_id", "action", "field", "old_value", "new_value", "actor", "source"]
    list_filter = ["action", "source", "model_id"]
    search_fields = ["model_id", "field", "actor"]
    date_hierarchy = "changed_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
