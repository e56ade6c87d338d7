"""The SSRF guard's rules, without a network: what it reads as an address, and what it refuses."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from syncsched.invoker import Guard, GuardedResolver, Refused, literal_address, public

GUARD = Guard.from_lists(private="127.0.0.1, internal.example", insecure="127.0.0.1")


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("::ffff:7f00:1", "::ffff:7f00:1"),
        ("example.com", None),
    ],
)
def test_literals_are_read_as_the_os_reads_them(host: str, address: str | None) -> None:
    read = literal_address(host)
    assert (str(read) if read else None) == address


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "::",
        "fd00::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::1",
        "224.0.0.1",
    ],
)
def test_non_public_addresses(address: str) -> None:
    assert not public(literal_address(address))  # type: ignore[arg-type]


def test_public_addresses() -> None:
    assert public(literal_address("93.184.216.34"))  # type: ignore[arg-type]
    assert public(literal_address("2606:2800:220:1:248:1893:25c8:1946"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.216.34/",  # http to a host not in allowed_insecure_hosts
        "https://10.0.0.1/",
        "https://2130706433/",
        "https://0x7f000001/",
        "https://[::ffff:127.0.0.1]/",
        "https://169.254.169.254/latest/meta-data/",
        "ftp://127.0.0.1/",
        "https:///nohost",
    ],
)
def test_refused_urls(url: str) -> None:
    with pytest.raises(Refused):
        GUARD.check_url(url)


def test_allowed_urls() -> None:
    GUARD.check_url("https://93.184.216.34/sync")
    GUARD.check_url("http://127.0.0.1:8080/sync")  # listed in both lists
    GUARD.check_url("https://internal.example/sync")  # a name: its addresses are the resolver's business


class FakeResolver:
    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers

    async def resolve(self, host: str, port: int = 0, family: Any = socket.AF_INET) -> list[dict[str, Any]]:
        return [
            {"hostname": host, "host": a, "port": port, "family": family, "proto": 0, "flags": 0}
            for a in self.answers[host]
        ]

    async def close(self) -> None:
        pass


def test_a_name_is_refused_when_any_address_it_resolves_to_is_not_public() -> None:
    async def check() -> None:
        resolver = GuardedResolver(lambda: GUARD)
        resolver._inner = FakeResolver(  # type: ignore[assignment]
            {
                "api.example.com": ["93.184.216.34"],
                "rebind.example.com": ["93.184.216.34", "127.0.0.1"],
                "internal.example": ["10.0.0.5"],
            }
        )
        # what the resolver returns is what the connector connects to: checked once, no second lookup
        assert [r["host"] for r in await resolver.resolve("api.example.com", 443)] == ["93.184.216.34"]
        with pytest.raises(Refused):
            await resolver.resolve("rebind.example.com", 443)
        assert [r["host"] for r in await resolver.resolve("internal.example", 443)] == ["10.0.0.5"]

    asyncio.run(check())
