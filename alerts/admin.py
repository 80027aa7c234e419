from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from alerts import services
from alerts.models import Channel, Delivery, DeliveryAttempt, Incident, Rule


class ChannelForm(forms.ModelForm):
    """The secret (and a Slack URL, which is one) is write-only: the input is always empty and
    blank keeps what is stored."""

    secret = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False),
                             help_text="Webhook: whsec_ followed by base64 of 24-64 random bytes. "
                                       "Leave blank to keep the stored secret.")
    slack_url = forms.CharField(required=False, label="Slack webhook URL",
                                widget=forms.PasswordInput(render_value=False),
                                help_text="Slack: the incoming-webhook URL (kept secret). Blank keeps it.")

    class Meta:
        model = Channel
        fields = ["name", "kind", "url", "emails", "enabled"]
        help_texts = {"url": "Webhook: where alerts are POSTed.", "emails": 'Email: a list, ["ops@example.com"].'}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.secret_set:
            self.fields["secret"].help_text = "Set (hidden). Leave blank to keep it."
        if self.instance.kind == Channel.Kind.SLACK:
            self.fields["url"].disabled = True

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # BaseModelForm's; the stubs leave private methods out
        if self.errors:
            return
        url = self.cleaned_data.get("url") or None
        if self.instance.kind == Channel.Kind.SLACK:
            url = self.cleaned_data.get("slack_url") or None
        try:
            services.channel_prepare(self.instance, secret=self.cleaned_data.get("secret") or None, url=url)
        except ValidationError as exc:
            self._update_errors(exc)  # type: ignore[attr-defined]  # as above


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelForm
    list_display = ["name", "kind", "target", "enabled", "from_environment", "updated_at"]
    list_filter = ["kind", "enabled"]
    actions = ["send_test"]

    @admin.display(description="Sends to")
    def target(self, channel: Channel) -> str:
        return ", ".join(channel.emails) if channel.kind == Channel.Kind.EMAIL else channel.url

    @admin.action(description="Send a test notification")
    def send_test(self, request: HttpRequest, queryset) -> None:
        for channel in queryset:
            _, result = services.channel_send_test(channel=channel)
            if result.ok:
                self.message_user(request, f"{channel.name}: test notification sent "
                                           f"({result.duration_ms:.0f} ms).", messages.SUCCESS)
            else:
                self.message_user(request, f"{channel.name}: test notification failed: {result.error}",
                                  messages.ERROR)


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    list_display = ["name", "condition", "level", "threshold", "for_seconds", "model", "cooldown_seconds",
                    "min_samples", "enabled"]
    list_filter = ["condition", "enabled"]
    filter_horizontal = ["channels"]


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["number", "started_at", "duration_ms", "ok", "status_code", "error"]

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    fields = ("event", "channel", "status", "attempts", "last_error", "sent_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ["id", "model_id", "rule_name", "status", "fired_at", "resolved_at", "acknowledged_by"]
    list_filter = ["status", "condition"]
    search_fields = ["model_id", "rule_name"]
    readonly_fields = ["rule", "rule_name", "condition", "model_id", "status", "reason", "since", "fired_at",
                       "resolved_at", "acknowledged_at", "acknowledged_by"]
    inlines = [DeliveryInline]
    actions = ["acknowledge"]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).exclude(status=Incident.Status.PENDING)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Acknowledge the selected incidents")
    def acknowledge(self, request: HttpRequest, queryset) -> None:
        for incident in queryset:
            services.incident_acknowledge(incident=incident, actor=request.user.get_username())
        self.message_user(request, f"Acknowledged {queryset.count()} incident(s).", messages.SUCCESS)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "event", "channel", "incident", "status", "attempts", "created_at", "sent_at"]
    list_filter = ["status", "event"]
    readonly_fields = ["incident", "channel", "event", "message_id", "payload", "status", "attempts", "last_error",
                       "created_at", "sent_at"]
    inlines = [DeliveryAttemptInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
