from django.contrib import admin

from apiauth.models import ApiToken
from apiauth.services import token_revoke


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "is_staff", "throttle_rate", "created_at", "revoked_at"]
    list_filter = ["is_staff"]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "created_at", "revoked_at"]
    fields = ["name", "prefix", "is_staff", "throttle_rate", "created_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):  # keys are created by the command, shown once
        return False

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        for token in queryset.filter(revoked_at__isnull=True):
            token_revoke(token=token)
