"""The local plane's EC2 and Route 53: RunInstances boots a blank local host, TerminateInstances removes it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from botocore.exceptions import ClientError

from freshtrack_ops.adapters.ssh import SshRunner, load_private_key
from freshtrack_ops.dr.host_key import host_keys_from_console
from freshtrack_ops.errors import HostKeyUnavailable
from opsctl.local import iam
from opsctl.local.iam_actions import requests_for
from opsctl.local.iam_policy import Request
from opsctl.local.plane import LAUNCH_TEMPLATE_SSH, LAUNCH_TEMPLATE_SSM, LocalPlane
from tests.integration.conftest import sshd_plane

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def plane() -> Iterator[LocalPlane]:
    """One small SSH host (the primary): the SSM side only starts with the SSM instance a test launches."""
    with sshd_plane(readings=200, hosts=("demo",), ssm_hosts=()) as local_plane:
        yield local_plane


def _launch(plane: LocalPlane, template: str) -> dict[str, Any]:
    response = plane.client("ec2").run_instances(
        LaunchTemplate={"LaunchTemplateName": template},
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "freshtrack-ops:execution", "Value": "t1"}]}],
    )
    instance: dict[str, Any] = response["Instances"][0]
    return instance


def _closed(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_an_ssh_instance_is_a_blank_host_pinned_from_its_console_then_gone(plane: LocalPlane) -> None:
    ec2 = plane.client("ec2")
    launched = _launch(plane, LAUNCH_TEMPLATE_SSH)
    instance_id = launched["InstanceId"]
    assert launched["State"]["Name"] == "pending"
    described = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert described["State"]["Name"] == "running"
    assert {"Key": "freshtrack-ops:execution", "Value": "t1"} in described["Tags"]
    assert set(plane.hosts()) == {"demo", instance_id}

    host = plane.host(instance_id)
    console = ec2.get_console_output(InstanceId=instance_id)["Output"]  # botocore decoded the base64
    keys = host_keys_from_console(console)
    assert list(keys.values()) == [host.ssh_host_public_key]
    assert host.ssh_host_public_key != plane.host("demo").ssh_host_public_key  # a NEW host key

    # the key pair's private key (as a target would hold it) logs in; the console's key is the one sshd serves
    secret = plane.client("secretsmanager").get_secret_value(SecretId=plane.key_pair_secret_arn)["SecretString"]
    assert host.ssh_port is not None
    runner = SshRunner(
        host_id=instance_id,
        address="127.0.0.1",
        port=host.ssh_port,
        user=host.ssh_user,
        private_key=load_private_key(secret),
        host_public_key=keys["ssh-ed25519"],
        connect_timeout_s=5.0,
    )
    try:
        channel = runner._session(30)
        channel.exec_command(f"ls -A {host.app_dir}")
        listing = channel.makefile("rb").read()
        assert channel.recv_exit_status() == 0
    finally:
        runner.close()
    assert listing == b""  # the app directory exists and is empty: nothing cloned yet
    assert host.ssh_private_key == ""  # the key pair's holder logs in, no key of the host's own

    # PostgreSQL: reachable, the compose database's role and an empty database, no table
    assert host.table_counts() == {}
    databases = {row[0] for row in host.sql("SELECT datname FROM pg_database WHERE NOT datistemplate", db="postgres")}
    assert databases == {"postgres", "frostguard"}
    assert host.services()["postgres"] == "running"
    assert host.services()["backend"] == "exited"

    ssh_port, pg_port, root = host.ssh_port, host.pg_port, host.root
    ec2.terminate_instances(InstanceIds=[instance_id])
    assert ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"] == (
        "terminated"
    )
    assert instance_id not in plane.hosts()
    assert _closed(ssh_port)
    assert _closed(pg_port)
    assert not root.exists()
    with pytest.raises(KeyError):
        plane.host(instance_id)


def test_an_ssm_instance_is_online_until_terminated(plane: LocalPlane) -> None:
    ec2, ssm = plane.client("ec2"), plane.client("ssm")
    instance_id = _launch(plane, LAUNCH_TEMPLATE_SSM)["InstanceId"]
    host = plane.host(instance_id)
    assert host.ssh_port is None  # no key pair: no sshd
    info = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [instance_id]}])
    assert [(i["InstanceId"], i["PingStatus"]) for i in info["InstanceInformationList"]] == [(instance_id, "Online")]
    console = ec2.get_console_output(InstanceId=instance_id)["Output"]  # botocore decoded the base64
    with pytest.raises(HostKeyUnavailable):
        host_keys_from_console(console)
    with psycopg.connect(host="127.0.0.1", port=host.pg_port, user="postgres", dbname="frostguard") as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)

    ec2.terminate_instances(InstanceIds=[instance_id])
    info = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [instance_id]}])
    assert info["InstanceInformationList"] == []
    assert not host.root.exists()


def test_the_plane_resolves_what_run_instances_from_its_template_needs(plane: LocalPlane) -> None:
    """The IAM mapping's lookups on the plane's moto: the template's ARN, and the role its profile passes."""
    params = {"LaunchTemplate": {"LaunchTemplateName": LAUNCH_TEMPLATE_SSM}, "MinCount": 1, "MaxCount": 1}
    requests = requests_for("ec2", "RunInstances", params, iam.PlaneLookup({}))
    template_arn = f"arn:aws:ec2:us-east-1:123456789012:launch-template/{plane.launch_templates[LAUNCH_TEMPLATE_SSM]}"
    assert requests[0].context == {"ec2:LaunchTemplate": template_arn}
    assert requests[-1] == Request(
        "iam:PassRole",
        "arn:aws:iam::123456789012:role/ftops-local-instance",
        {"iam:PassedToService": "ec2.amazonaws.com"},
    )


def test_the_demo_domain_points_at_the_primary_and_changes_go_insync(plane: LocalPlane) -> None:
    domain = plane.target("demo").domain
    assert plane.dns_records(domain) == ["127.0.0.1"]
    route53 = plane.client("route53")
    change = route53.change_resource_record_sets(
        HostedZoneId=plane.hosted_zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": domain,
                        "Type": "A",
                        "TTL": 60,
                        "ResourceRecords": [{"Value": "127.0.0.2"}],
                    },
                }
            ]
        },
    )["ChangeInfo"]
    assert change["Status"] == "PENDING"
    assert route53.get_change(Id=change["Id"])["ChangeInfo"]["Status"] == "INSYNC"
    assert plane.dns_records(domain) == ["127.0.0.2"]
    with pytest.raises(route53.exceptions.ClientError, match="NoSuchChange"):
        route53.get_change(Id="/change/CNOTACHANGE")


def test_the_dr_roles_of_a_dr_section_allow_the_workflow_calls_and_refuse_the_others(plane: LocalPlane) -> None:
    """The task roles built from a target's dr section (stacks/dr_grants.py, as CDK builds them) on the plane's
    moto: the launch template is resolved from its name, the instance's tags come from EC2, the zone is real."""
    from botocore.exceptions import ClientError

    from opsctl.local.names import function_name

    demo = plane.target("demo")
    zone = plane.hosted_zone_id.rsplit("/", 1)[-1]
    plane.update_target(
        "demo",
        dr={
            "launch_template": LAUNCH_TEMPLATE_SSM,
            "transport": "ssm",
            "instance_role_arn": "arn:aws:iam::123456789012:role/ftops-local-instance",
            "hosted_zone_id": zone,
            "app_config_secret_name": "ftops/demo/app-config",
        },
    )
    plane.reload_task_policies()
    tags = [
        {"Key": "freshtrack-ops:dr-id", "Value": "dr-demo-20261130T134103Z-0a1b2c3d"},
        {"Key": "freshtrack-ops:host", "Value": "demo"},
        {"Key": "freshtrack-ops:mode", "Value": "drill"},
        {"Key": "freshtrack-ops:execution", "Value": "t1"},
    ]
    specs = [{"ResourceType": "instance", "Tags": tags}, {"ResourceType": "volume", "Tags": tags}]
    ec2, route53 = plane.client("ec2"), plane.client("route53")

    def upsert(name: str, value: str = "127.0.0.3") -> dict[str, Any]:
        record = {"Name": name, "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": value}]}
        return {"HostedZoneId": zone, "ChangeBatch": {"Changes": [{"Action": "UPSERT", "ResourceRecordSet": record}]}}

    try:
        with iam.running_task(function_name("DrReplacement")):
            launched = ec2.run_instances(
                LaunchTemplate={"LaunchTemplateName": LAUNCH_TEMPLATE_SSM},
                MinCount=1,
                MaxCount=1,
                TagSpecifications=specs,
            )["Instances"][0]["InstanceId"]
            ec2.get_console_output(InstanceId=launched)
            with pytest.raises(ClientError, match=r"not authorized to perform: ec2:RunInstances"):
                ec2.run_instances(
                    LaunchTemplate={"LaunchTemplateName": LAUNCH_TEMPLATE_SSH},
                    MinCount=1,
                    MaxCount=1,
                    TagSpecifications=specs,
                )
            ec2.terminate_instances(InstanceIds=[launched])  # a drill's
        with iam.running_task(function_name("DrDns")):
            change = route53.change_resource_record_sets(**upsert(demo.domain + "."))["ChangeInfo"]
            route53.get_change(Id=change["Id"])
            with pytest.raises(ClientError, match=r"route53:ChangeResourceRecordSets"):
                route53.change_resource_record_sets(**upsert("other." + demo.domain))
        assert plane.dns_records(demo.domain) == ["127.0.0.3"]
        denials = plane.take_iam_denials()
        assert len(denials) == 2 and all("is not authorized" in d for d in denials)
    finally:
        plane.update_target("demo", dr=None)
        plane.reload_task_policies()
        route53.change_resource_record_sets(**upsert(demo.domain, "127.0.0.1"))


def test_chat_off_means_no_lambda_subscription_and_nothing_posted(plane: LocalPlane) -> None:
    """This plane runs without ``chat`` (the default): the topic has its read-back queue only, and a notification
    reaches no function (tests/integration/test_chat_notifications.py has chat on)."""
    sns = plane.client("sns")
    protocols = [s["Protocol"] for s in sns.list_subscriptions_by_topic(TopicArn=plane.topic_arn)["Subscriptions"]]
    assert protocols == ["sqs"]
    before = plane.finished_invocations("ChatNotify")
    sns.publish(TopicArn=plane.topic_arn, Subject="chat off", Message="only the queue gets this")
    plane.wait_idle()
    # the invocation count is the process's (an xdist worker may have run the chat module's planes first)
    assert plane.finished_invocations("ChatNotify") == before
    assert plane.chat_messages == [] and plane.chat_dead_letters == []
    assert any(n["Subject"] == "chat off" for n in plane.notifications())


def test_a_subject_with_a_line_break_is_refused_as_sns_does(plane: LocalPlane) -> None:
    sns = plane.client("sns")
    with pytest.raises(ClientError) as refused:
        sns.publish(TopicArn=plane.topic_arn, Subject="two\nlines", Message="m")
    assert refused.value.response["Error"]["Code"] == "InvalidParameter"
    sns.publish(TopicArn=plane.topic_arn, Subject="x" * 100, Message="100 characters are accepted")
