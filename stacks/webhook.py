"""The alert webhook: its two secrets, the HTTP API in front of ``AlertWebhook``, and the alarms of the path.

Why an API Gateway HTTP API and not a Lambda Function URL (docs/remediation.md says the same to operators):
the stage's default route throttling (a steady rate and a burst, token bucket; callers past it get
``429 Too Many Requests`` from API Gateway, and Alertmanager retries) caps how much of the account's Lambda
concurrency an alert storm can take ("Throttling requests to your HTTP API", API Gateway developer guide). A
Function URL has no throttling of its own: the only lever is the function's reserved concurrency, which takes
that concurrency away from every other function permanently and throttles as Lambda's 429 with no per-route
control. The stage also writes access logs and per-route ``4xx``/``5xx``/``Count`` metrics (AWS/ApiGateway,
dimensions ``ApiId`` [+ ``Stage``, ``Route``]: "Monitor CloudWatch metrics for HTTP APIs"), which the alarms below
use.
"""

from __future__ import annotations

import json

import jsii
from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from freshtrack_ops.alerts.settings import WebhookSettings
from stacks.function_factory import LOG_RETENTION, POWERTOOLS_ENV
from stacks.nag import acknowledge
from stacks.webhook_names import SECRET_ENV, WEBHOOK_SOURCES, WebhookSource, secret_shape, webhook_secret_name

#: the generated values: letters and digits only (no character YAML, a header or a shell would need to quote),
#: 48 of them (~285 bits)
SECRET_LENGTH = 48
#: the two routes, one per source, and nothing else (no $default route: any other path is API Gateway's 404)
ROUTES: dict[WebhookSource, str] = {"alertmanager": "/alertmanager", "grafana": "/grafana"}
#: the access log of each request: who, what, how it ended and how long it took. HTTP API access logs are built
#: from $context variables only (no body can be logged), and no header is named, so no credential is either.
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "sourceIp": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "httpMethod": "$context.httpMethod",
    "routeKey": "$context.routeKey",
    "path": "$context.path",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationStatus": "$context.integrationStatus",
    "integrationLatency": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
    "error": "$context.error.message",
}
#: alarm periods: API Gateway and EMF metrics arrive per minute; five of them smooth a single retry
ALARM_PERIOD = Duration.minutes(5)
#: the 4xx rate that alarms: a quarter of the deliveries refused (a wrong token or signature after a rotation,
#: a sender the throttle holds back) in two periods running...
CLIENT_ERROR_RATE = 0.25
CLIENT_ERROR_PERIODS = 2
#: ...among at least this many requests in the period (a scanner's few probes of unknown paths are not an alarm)
CLIENT_ERROR_MIN_REQUESTS = 10
#: the metric the remediation workflow emits whenever its circuit breaker opens (handlers/remediation.py)
ESCALATIONS_METRIC = "RemediationEscalations"


@jsii.implements(apigwv2.IAccessLogSettings)
class AccessLogSettings:
    """The stage's access log: ``ACCESS_LOG_FORMAT`` (one JSON object per request) into ``log_group``."""

    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._log_group = log_group

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return apigwv2.LogGroupLogDestination(self._log_group)

    @property
    def format(self) -> apigw.AccessLogFormat:
        return apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FORMAT, separators=(",", ":")))


class WebhookSecrets(Construct):
    """The two webhook secrets with generated values, encrypted with the deployment's data key."""

    def __init__(
        self, scope: Construct, construct_id: str, *, deployment: str, key: kms.IKey, settings: WebhookSettings
    ) -> None:
        super().__init__(scope, construct_id)
        self.secrets: dict[WebhookSource, secretsmanager.Secret] = {}
        for source in WEBHOOK_SOURCES:
            fixed, generated = secret_shape(source, settings.alertmanager_auth)
            secret = secretsmanager.Secret(
                self,
                source.capitalize(),
                secret_name=webhook_secret_name(deployment, source),
                description=f"FreshTrack Ops alert webhook: {source}'s credential ({generated})",
                encryption_key=key,
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    # the fixed fields; Secrets Manager adds the generated value under ``generated``
                    secret_string_template=json.dumps(fixed),
                    generate_string_key=generated,
                    exclude_punctuation=True,
                    include_space=False,
                    password_length=SECRET_LENGTH,
                ),
            )
            acknowledge(
                secret,
                "AwsSolutions-SMG4",
                f"No automatic rotation: {source} holds a copy of this value in its own configuration, and a "
                "rotation would refuse every delivery until that is updated; the operator rotates by hand in one "
                "step with the sender's config (docs/remediation.md says how).",
            )
            self.secrets[source] = secret

    def arns(self) -> tuple[str, ...]:
        return tuple(secret.secret_arn for secret in self.secrets.values())

    def environment(self, settings: WebhookSettings) -> dict[str, str]:
        """What the webhook function reads: each secret's ARN (never a value) and the settings as JSON."""
        found = {SECRET_ENV[source]: secret.secret_arn for source, secret in self.secrets.items()}
        found["WEBHOOK_SETTINGS"] = settings.model_dump_json()
        return found


class WebhookApi(Construct):
    """HTTP API: POST /alertmanager and POST /grafana to the webhook function (payload 2.0), the ``$default``
    stage throttled as configured and access-logged; alarms on its 4xx rate and 5xx count."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        deployment: str,
        function: lambda_.IFunction,
        settings: WebhookSettings,
        topic: sns.ITopic,
        log_key: kms.IKey,
    ) -> None:
        """``log_key`` encrypts the access log group (the data key: its policy lets CloudWatch Logs use it)."""
        super().__init__(scope, construct_id)
        self.api = apigwv2.HttpApi(
            self,
            "Api",
            api_name=f"{deployment}-alert-webhook",
            description="FreshTrack Ops alert webhook (Alertmanager and Grafana)",
            create_default_stage=False,
        )
        integration = integrations.HttpLambdaIntegration(
            "Webhook", function, payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0
        )
        for path in ROUTES.values():
            self.api.add_routes(path=path, methods=[apigwv2.HttpMethod.POST], integration=integration)
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=LOG_RETENTION, encryption_key=log_key)
        self.stage = apigwv2.HttpStage(
            self,
            "DefaultStage",
            http_api=self.api,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=settings.throttle_rate_per_s, burst_limit=settings.throttle_burst
            ),
            detailed_metrics_enabled=True,
            access_log_settings=AccessLogSettings(self.access_logs),
        )
        acknowledge(
            self.api,
            "AwsSolutions-APIG4",
            "Alertmanager and Grafana cannot sign with SigV4 or obtain a JWT: the function authenticates every "
            "delivery itself (Alertmanager's bearer/basic credential, Grafana's HMAC signature, compared in "
            "constant time against the webhook secrets) before anything is parsed or started.",
        )
        self.urls = {source: f"{self.stage.url.rstrip('/')}{path}" for source, path in ROUTES.items()}
        self.alarms = self._alarms(topic)

    def _alarms(self, topic: sns.ITopic) -> dict[str, cloudwatch.Alarm]:
        action = cw_actions.SnsAction(topic)
        requests = self.api.metric_count(period=ALARM_PERIOD, statistic=cloudwatch.Stats.SUM)
        client_errors = self.api.metric_client_error(period=ALARM_PERIOD, statistic=cloudwatch.Stats.SUM)
        server_errors = self.api.metric_server_error(period=ALARM_PERIOD, statistic=cloudwatch.Stats.SUM)
        client_error_rate = cloudwatch.MathExpression(
            expression=f"IF(requests >= {CLIENT_ERROR_MIN_REQUESTS}, errors / requests, 0)",
            using_metrics={"requests": requests, "errors": client_errors},
            label="4xx rate",
            period=ALARM_PERIOD,
        )
        alarms = {
            "ClientErrorRate": cloudwatch.Alarm(
                self,
                "ClientErrorRate",
                alarm_description=(
                    f"More than {CLIENT_ERROR_RATE:.0%} of the alert webhook's requests refused (4xx) for "
                    f"{CLIENT_ERROR_PERIODS * 5} minutes: a sender with a stale secret or signature, or an alert "
                    "storm past the throttle"
                ),
                metric=client_error_rate,
                threshold=CLIENT_ERROR_RATE,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=CLIENT_ERROR_PERIODS,
                datapoints_to_alarm=CLIENT_ERROR_PERIODS,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            # the webhook answers bad input with a 4xx, never a 5xx (Alertmanager retries a 5xx): any 5xx is a bug
            # or an outage, and each one is a delivery that will come again
            "ServerErrors": cloudwatch.Alarm(
                self,
                "ServerErrors",
                alarm_description="The alert webhook answered 5xx (Alertmanager retries these; none is expected)",
                metric=server_errors,
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        }
        for alarm in alarms.values():
            alarm.add_alarm_action(action)
        return alarms


class RemediationAlarms(Construct):
    """Escalations (the circuit breaker opened: remediation stopped acting on a host) and failed remediation
    executions notify the topic; both are rare, so one in five minutes is worth a message."""

    def __init__(
        self, scope: Construct, construct_id: str, *, state_machine: sfn.StateMachine, topic: sns.ITopic
    ) -> None:
        super().__init__(scope, construct_id)
        action = cw_actions.SnsAction(topic)
        self.escalations = cloudwatch.Alarm(
            self,
            "Escalations",
            alarm_description=(
                "Remediation escalated: its circuit breaker opened and it stopped acting on a host (see the "
                "escalation notification)"
            ),
            metric=cloudwatch.Metric(
                namespace=POWERTOOLS_ENV["POWERTOOLS_METRICS_NAMESPACE"],
                metric_name=ESCALATIONS_METRIC,
                # Powertools adds the ``service`` dimension to every metric it emits
                dimensions_map={"service": POWERTOOLS_ENV["POWERTOOLS_SERVICE_NAME"]},
                statistic=cloudwatch.Stats.SUM,
                period=ALARM_PERIOD,
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.executions_failed = cloudwatch.Alarm(
            self,
            "ExecutionsFailed",
            alarm_description="A remediation execution failed (its audit entry and notification say where)",
            metric=state_machine.metric_failed(period=ALARM_PERIOD, statistic=cloudwatch.Stats.SUM),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        for alarm in (self.escalations, self.executions_failed):
            alarm.add_alarm_action(action)
