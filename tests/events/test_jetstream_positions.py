"""The stream sequence and delivery count of a JetStream delivery, read from its reply
subject as nats-py's metadata reads them (both subject formats)."""

from __future__ import annotations

import pytest
from nats.aio.msg import Msg
from nats.errors import NotJSMessageError

from venta_core.ports.stream_jetstream import _positions


@pytest.mark.parametrize(
    "reply",
    [
        "$JS.ACK.VENTA.venta-search-sync.3.1712.1650.1700000000123456789.41",
        "$JS.ACK._.ACCOUNTHASH.VENTA.venta-search-sync.3.1712.1650.1700000000123456789.41.tok",
        "$JS.ACK.hub.ACCOUNTHASH.VENTA.venta-search-sync.1.7.7.1700000000123456789.0.tok",
        "$JS.ACK._.ACCOUNTHASH.VENTA.venta-search-sync.2.8.9.1700000000123456789.0",
    ],
)
def test_positions_are_those_of_the_metadata(reply: str) -> None:
    msg = Msg(_client=None, subject="venta.events.vendor.updated", reply=reply)  # type: ignore[arg-type]
    meta = msg.metadata

    assert _positions(msg) == (meta.sequence.stream, meta.num_delivered)


def test_a_message_that_is_not_a_delivery_is_refused_as_before() -> None:
    msg = Msg(_client=None, subject="x", reply="_INBOX.abc")  # type: ignore[arg-type]

    with pytest.raises(NotJSMessageError):
        _positions(msg)
