"""Alert routes under /api/v1/."""

from django.urls import path

from alerts import apis

urlpatterns = [
    path("alerts/", apis.IncidentListApi.as_view(), name="alert-incidents"),
    path("alerts/<int:incident_id>/acknowledge/", apis.IncidentAcknowledgeApi.as_view(), name="alert-acknowledge"),
    path("alerts/channels/", apis.ChannelListApi.as_view(), name="alert-channels"),
    path("alerts/channels/<int:channel_id>/", apis.ChannelDetailApi.as_view(), name="alert-channel"),
    path("alerts/channels/<int:channel_id>/test/", apis.ChannelTestApi.as_view(), name="alert-channel-test"),
    path("alerts/rules/", apis.RuleListApi.as_view(), name="alert-rules"),
    path("alerts/rules/<int:rule_id>/", apis.RuleDetailApi.as_view(), name="alert-rule"),
]
