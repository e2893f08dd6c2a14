// Drives a running venta real-time gateway with the official socket.io-client and prints one
// JSON object with what it saw. Used by tests/realtime/test_js_client.py.
//
//   node client.mjs '{"url": "...", "userToken": "...", "ownerToken": "...", "vendorId": "..."}'
import { io } from "socket.io-client";

const cfg = JSON.parse(process.argv[2]);
const TIMEOUT_MS = 8000;

function once(socket, event) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${event}`)), TIMEOUT_MS);
    socket.once(event, (payload) => {
      clearTimeout(timer);
      resolve(payload);
    });
  });
}

function connected(socket) {
  return new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
}

const result = {};

// A forged token is refused at connect with UNAUTHENTICATED.
const forged = io(`${cfg.url}/user`, {
  auth: { token: "forged" },
  forceNew: true,
  reconnection: false,
});
result.refused = await new Promise((resolve) =>
  forged.once("connect_error", (err) => resolve({ message: err.message, data: err.data })),
);
forged.close();

// Default transports: long-polling first, then the upgrade to websocket.
const user = io(`${cfg.url}/user`, {
  auth: { token: cfg.userToken },
  forceNew: true,
  reconnection: false,
});
await connected(user);
// Its own connection (forceNew): a second io() to the same origin would share the user's
// Engine.IO connection, and headers belong to the connection.
const vendor = io(`${cfg.url}/vendor`, {
  forceNew: true,
  extraHeaders: { Authorization: `Bearer ${cfg.ownerToken}` },
  transports: ["websocket"],
  reconnection: false,
});
await connected(vendor);

const channels = once(user, "vendor_channels");
user.emit("updateUserLocation", {
  neLocation: { lat: 52.54, long: 13.43 },
  swLocation: { lat: 52.5, long: 13.38 },
});
result.channels = await channels;

// Wait until the user's transport is a websocket, so both paths (polling and direct websocket
// writes) are exercised.
for (let i = 0; i < 100 && user.io.engine.transport.name !== "websocket"; i++) {
  await new Promise((r) => setTimeout(r, 50));
}
result.userTransport = user.io.engine.transport.name;

const syncs = [];
user.on("vendor_sync", (payload) => syncs.push(payload));
const left = once(user, "vendor_left");
for (const long of [13.401, 13.402, 13.403]) {
  vendor.emit("updateVendorLocation", { vendorId: cfg.vendorId, lat: 52.52, long });
  await new Promise((r) => setTimeout(r, 100));
}
vendor.emit("updateVendorLocation", { lat: 40.7, long: -74.0 });
result.left = await left;
result.syncs = syncs;

const error = once(vendor, "error");
vendor.emit("updateVendorLocation", { lat: "north", long: 13.4 });
result.error = await error;
result.vendorStillConnected = vendor.connected;

user.close();
vendor.close();
console.log(JSON.stringify(result));
process.exit(0);
