"""Chat notifications: the webhook URL's secret, and ``ChatNotify`` subscribed to the notification topic.

Every workflow reports to the one topic (its ASL ``sns:publish`` states, the tasks' ``SnsNotifier``, the alarms), so
one Lambda subscription gives the chat every notification without touching a workflow. SNS invokes the function
asynchronously: a message the webhook would not take (after ``chat.max_attempts`` requests in one invocation) is
retried by Lambda (``CHAT_EVENT_RETRIES``) and then lands in a dead-letter queue, as does a message SNS could not
hand to Lambda at all (the subscription's redrive policy); its first message alarms the topic. That alarm reaches
the chat too (and fails the same way while the chat is down: one alarm message, not a loop, since an alarm
notifies on a state change only); the e-mail subscriptions get it regardless.
"""

from __future__ import annotations

import json

from aws_cdk import Aws, Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from freshtrack_ops.chat.settings import ChatSettings
from stacks.chat_names import SECRET_ENV, SETTINGS_ENV, chat_secret_name
from stacks.nag import acknowledge, suppress_lint
from stacks.webhook_names import webhook_secret_arn_pattern

#: Lambda's asynchronous retries of a failed delivery (its maximum), within this age
CHAT_EVENT_RETRIES = 2
CHAT_EVENT_MAX_AGE = Duration.hours(1)
#: the stack's secret until the operator puts the URL in (``chat.secret.webhook_url`` reads it as "no URL yet")
PLACEHOLDER = {"url": ""}


class ChatSecret(Construct):
    """The secret holding the webhook URL: the stack's (data key, placeholder value) or a configured existing one."""

    def __init__(
        self, scope: Construct, construct_id: str, *, deployment: str, key: kms.IKey, settings: ChatSettings
    ) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        self.secret: secretsmanager.Secret | None = None
        if settings.secret_name is not None:
            self.name = settings.secret_name
            # by name: IAM matches the ARN Secrets Manager gives it, ``<name>-`` and six random characters
            self.arn = webhook_secret_arn_pattern(Aws.PARTITION, Aws.REGION, Aws.ACCOUNT_ID, settings.secret_name)
            self.secret_id = settings.secret_name
            return
        self.name = chat_secret_name(deployment)
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            secret_name=self.name,
            description='FreshTrack Ops chat notifications: the Slack-compatible incoming webhook URL ({"url": ...})',
            encryption_key=key,
            # a value is required at creation; Secrets Manager adds a random "placeholder" field to {"url": ""}.
            # CloudFormation sets it once: the URL the operator puts in later survives every stack update.
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps(PLACEHOLDER),
                generate_string_key="placeholder",
                exclude_punctuation=True,
                password_length=16,
            ),
        )
        acknowledge(
            self.secret,
            "AwsSolutions-SMG4",
            "No automatic rotation: the value is a webhook URL the chat service issued; only that service can "
            "issue a new one, and the operator rotates it there and here by hand (docs/configuration.md).",
        )
        self.arn = self.secret.secret_arn
        self.secret_id = self.secret.secret_arn

    def environment(self) -> dict[str, str]:
        """What ChatNotify reads: the secret's ARN or name (never its value) and the ``chat`` settings as JSON."""
        return {SECRET_ENV: self.secret_id, SETTINGS_ENV: self.settings.model_dump_json()}


class ChatSubscription(Construct):
    """``function`` subscribed to ``topic``; what fails lands in ``queue`` (the control plane's ``DeadLetters``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.Function,
        topic: sns.ITopic,
        queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.subscription = topic.add_subscription(subscriptions.LambdaSubscription(function, dead_letter_queue=queue))
        function.configure_async_invoke(
            retry_attempts=CHAT_EVENT_RETRIES,
            max_event_age=CHAT_EVENT_MAX_AGE,
            on_failure=destinations.SqsDestination(queue),
        )
        for child in function.node.find_all():
            if isinstance(child, lambda_.CfnPermission):
                suppress_lint(
                    child,
                    "ES1007",
                    "ChatNotify has an AWS::Lambda::EventInvokeConfig with an OnFailure destination (its dead-letter "
                    "queue); ES1007 compares FunctionName as written, and this permission names the function by "
                    "Fn::GetAtt Arn while the config names it by Ref.",
                )
