// Drives the official @azure/web-pubsub-client against a Web PubSub endpoint (the local
// emulator in tests/integration/test_webpubsub_emulator.py).
//
//   node webpubsub_js_client.mjs <client url> <group to await> <group to join> <group refused>
//
// Prints one JSON line when connected ({"event": "connected", ...}), waits for one message of
// the first group (sent by the test through the Python server SDK), joins the second group,
// tries to join the third, then prints the result as one JSON line and exits.
import { WebPubSubClient } from "@azure/web-pubsub-client";

const [url, awaitedGroup, allowedGroup, refusedGroup] = process.argv.slice(2);
const timeout = setTimeout(() => {
  console.error("timed out");
  process.exit(2);
}, 45000);

// No client-side retries: a refused join rejects at once (the default retries it 3 times).
const client = new WebPubSubClient(url, { autoReconnect: false, messageRetryOptions: { maxRetries: 0 } });
const groupMessage = new Promise((resolve) => {
  client.on("group-message", (event) => {
    if (event.message.group === awaitedGroup) resolve(event.message);
  });
});
const connected = new Promise((resolve) => client.on("connected", resolve));

await client.start();
const hello = await connected;
console.log(JSON.stringify({ event: "connected", connectionId: hello.connectionId, userId: hello.userId }));

const message = await groupMessage;
const result = {
  groupMessage: { group: message.group, dataType: message.dataType, data: message.data },
  sequenceId: message.sequenceId,
};
try {
  await client.joinGroup(allowedGroup);
  result.allowedJoin = "ok";
} catch (error) {
  result.allowedJoin = { name: error.name, message: error.message, errorDetail: error.errorDetail };
}
try {
  await client.joinGroup(refusedGroup);
  result.forbiddenJoin = "ok";
} catch (error) {
  result.forbiddenJoin = { name: error.name, message: error.message, errorDetail: error.errorDetail };
}
client.stop();
clearTimeout(timeout);
console.log(JSON.stringify(result));
// The client's keep-alive monitor (a 40 s interval) outlives stop(): leave now.
process.exit(0);
