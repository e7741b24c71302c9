// matrix-js-sdk (what Element Web and Desktop are built on) against a running Stoa:
// log in, start the client and reach the PREPARED sync state, create a room, send,
// edit and redact a message (the SDK must see the edit and the redaction applied),
// and receive a message from a second user.
//
// Usage: node js_sdk_smoke.mjs BASE_URL ALICE_ID ALICE_PASSWORD BOB_ID BOB_PASSWORD
// Exits 0 on success; prints each step; bounded at 60 s.

import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

const DEADLINE_MS = 60_000;
const STEP_MS = 20_000;

const [baseUrl, aliceId, alicePassword, bobId, bobPassword] = process.argv.slice(2);
if (!bobPassword) {
    console.error("usage: node js_sdk_smoke.mjs BASE_URL ALICE_ID ALICE_PASSWORD BOB_ID BOB_PASSWORD");
    process.exit(2);
}
logger.setLevel("warn");

const deadline = setTimeout(() => {
    console.error(`FAIL: not done within ${DEADLINE_MS} ms`);
    process.exit(1);
}, DEADLINE_MS);

function step(message) {
    console.log(`step: ${message}`);
}

/** Resolves once `check()` holds, re-checking whenever `emitter` emits one of `events`. */
function until(what, emitter, events, check) {
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
            cleanup();
            reject(new Error(`timed out waiting for: ${what}`));
        }, STEP_MS);
        const listener = () => {
            let value;
            try {
                value = check();
            } catch (error) {
                cleanup();
                reject(error);
                return;
            }
            if (value) {
                cleanup();
                resolve(value);
            }
        };
        const cleanup = () => {
            clearTimeout(timer);
            for (const event of events) emitter.off(event, listener);
        };
        for (const event of events) emitter.on(event, listener);
        listener();
    });
}

async function loggedIn(userId, password) {
    const anonymous = sdk.createClient({ baseUrl });
    const login = await anonymous.loginRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: userId },
        password,
        initial_device_display_name: "js-sdk smoke",
    });
    if (login.user_id !== userId) throw new Error(`logged in as ${login.user_id}, not ${userId}`);
    return sdk.createClient({
        baseUrl,
        userId: login.user_id,
        deviceId: login.device_id,
        accessToken: login.access_token,
    });
}

const ROOM_EVENTS = [sdk.RoomEvent.Timeline, sdk.RoomEvent.Redaction, sdk.RoomEvent.LocalEchoUpdated];

async function main() {
    const alice = await loggedIn(aliceId, alicePassword);
    step("alice logged in");
    const prepared = until("sync state PREPARED", alice, [sdk.ClientEvent.Sync], () => {
        const state = alice.getSyncState();
        if (state === sdk.SyncState.Error) throw new Error(`sync error: ${alice.getSyncStateData()?.error}`);
        return state === sdk.SyncState.Prepared || state === sdk.SyncState.Syncing;
    });
    await alice.startClient({ initialSyncLimit: 10 });
    await prepared;
    step("alice's client is PREPARED");
    const rules = alice.pushRules;
    if (!rules?.global?.override?.some((rule) => rule.rule_id === ".m.rule.master")) {
        throw new Error(`push rules not loaded: ${JSON.stringify(rules)}`);
    }
    step("push rules loaded");

    const { room_id: roomId } = await alice.createRoom({ preset: "private_chat", invite: [bobId], name: "js-sdk smoke" });
    const room = await until("the room in alice's client", alice, [sdk.ClientEvent.Room, sdk.RoomEvent.MyMembership], () => {
        const room = alice.getRoom(roomId);
        return room?.getMyMembership() === "join" ? room : null;
    });
    step(`room ${roomId} created and joined`);

    const { event_id: messageId } = await alice.sendTextMessage(roomId, "hello from js-sdk");
    const message = await until("the message's remote echo", room, ROOM_EVENTS, () => {
        const event = room.findEventById(messageId);
        return event && !event.isSending() ? event : null;
    });
    step(`sent ${messageId}`);

    const { event_id: editId } = await alice.sendEvent(roomId, "m.room.message", {
        msgtype: "m.text",
        body: "* hello, edited",
        "m.new_content": { msgtype: "m.text", body: "hello, edited" },
        "m.relates_to": { rel_type: "m.replace", event_id: messageId },
    });
    await until("the edit applied", room, ROOM_EVENTS.concat([sdk.MatrixEventEvent.Replaced]), () => {
        return message.replacingEventId() === editId && message.getContent().body === "hello, edited";
    });
    step(`edited by ${editId}`);

    await alice.redactEvent(roomId, messageId, undefined, { reason: "smoke test" });
    await until("the redaction applied", room, ROOM_EVENTS, () => {
        const event = room.findEventById(messageId);
        return event?.isRedacted() && Object.keys(event.getContent()).length === 0;
    });
    step("redaction applied: event.isRedacted()");

    const bob = await loggedIn(bobId, bobPassword);
    await bob.joinRoom(roomId);
    const { event_id: bobsId } = await bob.sendTextMessage(roomId, "hello from bob");
    const received = await until("bob's message in alice's client", room, ROOM_EVENTS, () => {
        const event = room.findEventById(bobsId);
        return event?.getSender() === bobId ? event : null;
    });
    if (received.getContent().body !== "hello from bob") {
        throw new Error(`bob's message arrived as ${JSON.stringify(received.getContent())}`);
    }
    step("received bob's message");

    alice.stopClient();
    bob.stopClient();
}

main().then(
    () => {
        clearTimeout(deadline);
        console.log("OK");
        process.exit(0);
    },
    (error) => {
        console.error(`FAIL: ${error?.stack ?? error}`);
        process.exit(1);
    },
);
