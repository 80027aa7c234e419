from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from core.validation import storable_text_error
from ml.schema import check_schema
from monitoring.thresholds import check_thresholds


class ModelType(models.TextChoices):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"
    NLP = "nlp"
    FORECASTING = "forecasting"
    RECOMMENDATION = "recommendation"


class ModelStatus(models.TextChoices):
    ACTIVE = "active"
    INACTIVE = "inactive"
    TESTING = "testing"
    DEPRECATED = "deprecated"
    TRAINING = "training"


class Provider(models.TextChoices):
    LOCAL = "local"
    AWS_SAGEMAKER = "aws-sagemaker"
    AZURE_ML = "azure-ml"
    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    CUSTOM = "custom"


class AbMode(models.TextChoices):
    SPLIT = "split", "Split traffic"
    SHADOW = "shadow", "Shadow (champion answers, challenger runs on a sample)"


class AbArm(models.TextChoices):
    """The arm a logged prediction or metric was served on (predictions.ab)."""

    CHAMPION = "champion"
    CHALLENGER = "challenger"
    SHADOW = "shadow"  # the challenger run on the side in shadow mode, never returned


STORED_TEXT_FIELDS = ("id", "name", "version", "description", "provider_config", "feature_schema",
                      "metrics", "health_thresholds")


class MLModel(models.Model):
    """A registered model. With A/B enabled it is the challenger of `ab_champion`."""

    id = models.SlugField(primary_key=True, max_length=100)
    name = models.CharField(max_length=200)
    version = models.CharField(max_length=50)
    type = models.CharField(max_length=20, choices=ModelType.choices)
    provider = models.CharField(max_length=20, choices=Provider.choices, default=Provider.LOCAL)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=ModelStatus.choices, default=ModelStatus.ACTIVE)
    # Endpoint and non-secret settings; credentials live encrypted in `credentials_encrypted`.
    provider_config = models.JSONField(default=dict, blank=True)
    credentials_encrypted = models.TextField(blank=True, editable=False)
    ab_enabled = models.BooleanField("A/B test enabled", default=False)
    ab_traffic_percentage = models.FloatField(
        "traffic to this model (%)", default=0,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    ab_champion = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="challengers",
        verbose_name="champion",
    )
    ab_mode = models.CharField("A/B mode", max_length=10, choices=AbMode.choices, default=AbMode.SPLIT)
    fallback_model = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Answers instead when this model's provider fails; the response says so.",
    )
    metrics = models.JSONField(default=dict, blank=True, help_text="Measured on held-out data.")
    feature_schema = models.JSONField(default=dict, blank=True)
    cache_ttl = models.PositiveIntegerField(default=300, help_text="Seconds; 0 turns caching off.")
    health_thresholds = models.JSONField(default=dict, blank=True)
    # Bumped by every change that may change answers, so cached answers become unreachable.
    revision = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "model"
        constraints = [
            models.CheckConstraint(
                condition=Q(ab_traffic_percentage__gte=0) & Q(ab_traffic_percentage__lte=100),
                name="ab_traffic_between_0_and_100",
            ),
            models.CheckConstraint(
                condition=Q(ab_champion__isnull=True) | ~Q(ab_champion=F("id")),
                name="ab_champion_is_not_itself",
            ),
            models.CheckConstraint(
                condition=Q(status__in=ModelStatus.values), name="status_is_known",
            ),
            models.CheckConstraint(
                condition=Q(provider__in=Provider.values), name="provider_is_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.version})"

    @property
    def etag(self) -> str:
        """The row's version for HTTP preconditions: its revision (moved by every edit that
        may change answers) and the time of its last save (moved by every other edit)."""
        return f"{self.revision}.{int(self.updated_at.timestamp() * 1_000_000)}"

    @property
    def answers_identity(self) -> str:
        """What a copy of this model's answers (a loaded predictor, a cached explanation) must
        be keyed on: its version and revision, and its creation time, because a model deleted
        and registered again under the same id starts again at revision 1 (and its artifact
        upload takes it to revision 2 again): keyed on id, version and revision alone, a
        worker kept serving the deleted model's artifact in its place."""
        created = self.created_at.timestamp() if self.created_at else 0.0
        return f"{self.version}:{self.revision}:{created:.6f}"

    @property
    def is_active(self) -> bool:
        return self.status == ModelStatus.ACTIVE

    def ab_test_is_running(self) -> bool:
        """This model is the challenger of a running A/B test. An ended test keeps its
        champion on record (registry.services.model_promote) but is not running."""
        return self.ab_enabled and self.ab_champion_id is not None

    @property
    def ab_test(self) -> dict | None:
        if not self.ab_champion_id and not self.ab_enabled:
            return None
        return {
            "enabled": self.ab_enabled,
            "trafficPercentage": self.ab_traffic_percentage,
            "championModelId": self.ab_champion_id,
            "mode": self.ab_mode,
        }

    def clean(self) -> None:
        errors: dict[str, str] = {}
        # A string the database cannot store would fail the save, or be stored (SQLite) and
        # then fail every read of the registry: refused here, for the admin and the API alike.
        for field in STORED_TEXT_FIELDS:
            if problem := storable_text_error(getattr(self, field), field):
                errors[field] = problem
        if errors:
            raise ValidationError(errors)
        try:
            check_schema(self.feature_schema)
        except ValueError as exc:
            errors["feature_schema"] = str(exc)
        if not isinstance(self.provider_config, dict):
            errors["provider_config"] = "providerConfig must be an object."
        elif problems := _provider_config_errors(self):
            errors["provider_config"] = " ".join(problems)
        try:
            check_thresholds(self.health_thresholds)
        except ValueError as exc:
            errors["health_thresholds"] = str(exc)
        errors |= self._ab_errors()
        if self.status != ModelStatus.ACTIVE and self.pk and self.challengers.filter(ab_enabled=True).exists():
            names = ", ".join(self.challengers.filter(ab_enabled=True).values_list("id", flat=True))
            errors["status"] = f"'{self.pk}' is the champion of {names}; end or promote that test first."
        if self.fallback_model_id and self.fallback_model_id == self.pk:
            errors["fallback_model"] = "A model cannot be its own fallback."
        if errors:
            raise ValidationError(errors)

    def _ab_errors(self) -> dict[str, str]:
        champion = self.ab_champion
        if self.pk and (other := self.challengers.exclude(type=self.type).values_list("id", flat=True)[:3]):
            # A test's arms are compared answer by answer, ended tests (kept on record) too.
            return {"type": f"'{self.pk}' is the champion of {', '.join(other)}, which answer as another "
                            "type; end those tests and clear their champion first."}
        if champion is not None and champion.type != self.type:
            return {"type" if not self.ab_enabled else "ab_champion":
                    f"The champion '{champion.pk}' is a {champion.type} model, not {self.type}."}
        if self.ab_enabled and self.pk and self.challengers.filter(ab_enabled=True).exists():
            names = ", ".join(self.challengers.filter(ab_enabled=True).values_list("id", flat=True))
            return {"ab_enabled": f"'{self.pk}' is the champion of {names}; a champion cannot also be a challenger."}
        if champion is not None and not self.ab_enabled:
            return {}  # an ended test keeps its champion for the record
        if champion is None:
            return {"ab_champion": "An enabled A/B test needs a champion model."} if self.ab_enabled else {}
        if champion.pk == self.pk:
            return {"ab_champion": "A model cannot be its own champion."}
        if champion.status != ModelStatus.ACTIVE:
            return {"ab_champion": f"The champion '{champion.pk}' is {champion.status}, not active."}
        if champion.ab_enabled:
            return {"ab_champion": f"The champion '{champion.pk}' is itself the challenger of an A/B test."}
        if champion.type != self.type:
            return {"ab_champion": f"The champion '{champion.pk}' is a {champion.type} model, not {self.type}."}
        return {}


def _provider_config_errors(model: MLModel) -> list[str]:
    # Imported here: the providers package builds on the registry, not the other way round.
    from predictions.providers.validation import provider_config_errors

    return provider_config_errors(model.provider, model.type, model.provider_config)


class ModelArtifact(models.Model):
    """A fitted in-process model, signed by our own training code; kept in the database so
    every app-server process and machine serves the same one."""

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="artifacts")
    version = models.CharField(max_length=50)
    blob = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    training_rows = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        get_latest_by = "created_at"
        indexes = [models.Index(fields=["model", "version", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.model_id}@{self.version} {self.sha256[:12]}"


class RegistryChange(models.Model):
    """The audit trail: who changed which registry setting of which model, when, old -> new.
    Written by the registry services, the single write path of the admin and the API."""

    class Action(models.TextChoices):
        CREATE = "create"
        UPDATE = "update"
        DELETE = "delete"
        PROMOTE = "promote"

    # Not a foreign key: the trail outlives the model it describes.
    model_id = models.CharField(max_length=100, db_index=True)
    action = models.CharField(max_length=10, choices=Action.choices)
    field = models.CharField(max_length=50, blank=True)
    old_value = models.JSONField(null=True, blank=True)
    new_value = models.JSONField(null=True, blank=True)
    actor = models.CharField(max_length=200, help_text="Admin user, API token or 'system'.")
    source = models.CharField(max_length=10)  # admin | api | system
    changed_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        verbose_name = "registry change"

    def __str__(self) -> str:
        return f"{self.changed_at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.model_id}.{self.field}"
