// Shared by the interop scripts: the connection to the test's own redis-server.
// REDIS_URL is required (never fall back to node-resque's default 127.0.0.1:6379).
"use strict";

const NR = require("node-resque");

function connectionDetails() {
  const raw = process.env.REDIS_URL;
  if (!raw) {
    throw new Error("REDIS_URL is not set: refusing to use a default Redis");
  }
  const url = new URL(raw);
  const database = parseInt((url.pathname || "/0").replace("/", "") || "0", 10);
  return {
    pkg: "ioredis",
    host: url.hostname,
    port: parseInt(url.port || "6379", 10),
    database,
    namespace: process.env.RESQUE_NAMESPACE || "resque",
  };
}

// One JSON argument on the command line (the scripts' whole input).
function input() {
  const text = process.argv[2];
  if (text === undefined) {
    throw new Error("usage: node <script> '<json>'");
  }
  return JSON.parse(text);
}

function fail(error) {
  process.stderr.write(String((error && error.stack) || error) + "\n");
  process.exit(1);
}

module.exports = { NR, connectionDetails, input, fail };
