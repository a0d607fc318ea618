"""A client built on google-protobuf classes compiled from an old proto release (run as a script).

Usage: ``python old_release_client.py <pb2 dir> <host> <port> <client id> <client secret> <token>``

It knows nothing of ctrader_sdk: framing by hand, messages from the ``*_pb2`` modules of that
release (whose ``ProtoOAGetTrendbarsRes.timestamp`` is still required, so parsing fails if the server
leaves it out: like the Java and C++ runtimes, the client refuses a message with a required field
missing, which google-protobuf for Python only reports through ``IsInitialized``). Prints one JSON object with what it saw. Run in a subprocess: the modules register
the vendor's message names in protobuf's global pool, which must not clash with other tests.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


async def main(
    folder: str, host: str, port: int, client_id: str, secret: str, token: str
) -> dict[str, object]:
    sys.path.insert(0, folder)
    import OpenApiCommonMessages_pb2 as common  # type: ignore[import-not-found]
    import OpenApiMessages_pb2 as oa  # type: ignore[import-not-found]
    import OpenApiModelMessages_pb2 as model  # type: ignore[import-not-found]

    reader, writer = await asyncio.open_connection(host, port)
    counter = iter(range(1, 1_000_000))

    def send(message: object) -> str:
        client_msg_id = str(next(counter))
        payload_type = message.DESCRIPTOR.fields_by_name["payloadType"].default_value  # type: ignore[attr-defined]
        envelope = common.ProtoMessage(
            payloadType=payload_type,
            payload=message.SerializeToString(),  # type: ignore[attr-defined]
            clientMsgId=client_msg_id,
        )
        body = envelope.SerializeToString()
        writer.write(len(body).to_bytes(4, "big") + body)
        return client_msg_id

    async def receive() -> object:
        length = int.from_bytes(await reader.readexactly(4), "big")
        envelope = common.ProtoMessage()
        envelope.ParseFromString(await reader.readexactly(length))
        return envelope

    async def answer(client_msg_id: str, cls: type) -> object:
        while True:
            envelope = await receive()
            if envelope.clientMsgId == client_msg_id:  # type: ignore[attr-defined]
                message = cls()
                message.ParseFromString(envelope.payload)  # type: ignore[attr-defined]
                if not message.IsInitialized():
                    raise ValueError(
                        f"{cls.__name__} lacks required fields {message.FindInitializationErrors()}"
                    )
                assert envelope.payloadType == message.payloadType, (envelope.payloadType, cls)  # type: ignore[attr-defined]
                return message

    result: dict[str, object] = {}
    await answer(
        send(oa.ProtoOAApplicationAuthReq(clientId=client_id, clientSecret=secret)),
        oa.ProtoOAApplicationAuthRes,
    )
    result["app_auth"] = True
    accounts = await answer(
        send(oa.ProtoOAGetAccountListByAccessTokenReq(accessToken=token)),
        oa.ProtoOAGetAccountListByAccessTokenRes,
    )
    ids = [a.ctidTraderAccountId for a in accounts.ctidTraderAccount]  # type: ignore[attr-defined]
    result["accounts"] = ids
    account = min(ids)
    await answer(
        send(oa.ProtoOAAccountAuthReq(ctidTraderAccountId=account, accessToken=token)),
        oa.ProtoOAAccountAuthRes,
    )
    trader = await answer(send(oa.ProtoOATraderReq(ctidTraderAccountId=account)), oa.ProtoOATraderRes)
    result["balance"] = trader.trader.balance  # type: ignore[attr-defined]
    symbols = await answer(
        send(oa.ProtoOASymbolByIdReq(ctidTraderAccountId=account, symbolId=[1])), oa.ProtoOASymbolByIdRes
    )
    result["digits"] = symbols.symbol[0].digits  # type: ignore[attr-defined]
    now = int(time.time() * 1000)
    bars = await answer(
        send(
            oa.ProtoOAGetTrendbarsReq(
                ctidTraderAccountId=account,
                fromTimestamp=now - 3_600_000,
                toTimestamp=now,
                period=model.H1,
                symbolId=1,
            )
        ),
        oa.ProtoOAGetTrendbarsRes,
    )
    result["bars"] = len(bars.trendbar)  # type: ignore[attr-defined]
    result["bars_timestamp"] = bars.timestamp  # type: ignore[attr-defined]
    result["to"] = now
    await answer(
        send(
            oa.ProtoOASubscribeSpotsReq(
                ctidTraderAccountId=account, symbolId=[1], subscribeToSpotTimestamp=True
            )
        ),
        oa.ProtoOASubscribeSpotsRes,
    )
    while True:
        envelope = await receive()
        if envelope.payloadType == oa.ProtoOASpotEvent().payloadType:  # type: ignore[attr-defined]
            spot = oa.ProtoOASpotEvent()
            spot.ParseFromString(envelope.payload)  # type: ignore[attr-defined]
            assert spot.IsInitialized(), spot.FindInitializationErrors()
            result["spot"] = {"bid": spot.bid, "ask": spot.ask, "timestamp": spot.timestamp}
            break
    writer.close()
    await writer.wait_closed()
    return result


if __name__ == "__main__":
    folder, host, port, client_id, secret, token = sys.argv[1:7]
    print(json.dumps(asyncio.run(main(folder, host, int(port), client_id, secret, token))))
