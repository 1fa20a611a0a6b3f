"""The unit tests' conftest really blocks sockets: a TCP connect to 127.0.0.1, a listener, a Unix socket, a
name lookup, and a boto3 call outside moto all fail before any byte is sent."""

from __future__ import annotations

import socket
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import HTTPClientError
from moto import mock_aws
from pytest_socket import SocketBlockedError

# pytest-socket also warns about each blocked call (in case a library swallows the error): expected here
pytestmark = pytest.mark.filterwarnings("ignore:A test tried to use socket:UserWarning")


def test_no_tcp_socket_can_be_opened() -> None:
    with pytest.raises(SocketBlockedError):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    with pytest.raises(SocketBlockedError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with pytest.raises(SocketBlockedError):
        urllib.request.urlopen("http://127.0.0.1:9/", timeout=1)


def test_no_unix_socket_and_no_name_lookup() -> None:
    with pytest.raises(SocketBlockedError):
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with pytest.raises(SocketBlockedError):
        socket.getaddrinfo("localhost", 80)


def test_boto3_outside_moto_is_blocked_and_inside_moto_needs_no_socket() -> None:
    config = Config(retries={"max_attempts": 1}, connect_timeout=1)
    client = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )
    with pytest.raises(HTTPClientError, match="A test tried to use socket") as raised:
        client.list_buckets()
    assert isinstance(raised.value.__context__, SocketBlockedError)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="no-socket-needed")
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["no-socket-needed"]
