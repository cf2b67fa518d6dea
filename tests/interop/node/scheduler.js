// A node-resque Scheduler that runs until the delayed queue is empty (or a timeout).
// Input: {"poll_ms": 50, "timeout_ms": 20000, "min_ms": 0}
// Prints one JSON line per event (leader, transferredJob, end) to stdout.
"use strict";

const { NR, connectionDetails, input, fail } = require("./common");

function say(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
}

async function main() {
  const options = input();
  const connection = connectionDetails();
  const scheduler = new NR.Scheduler({ connection, timeout: options.poll_ms ?? 50 });
  const started = Date.now();
  let stopping = false;
  const stop = async (reason) => {
    if (stopping) return;
    stopping = true;
    await scheduler.end();
    say({ event: "end", reason });
    process.exit(reason === "done" ? 0 : 2);
  };
  scheduler.on("leader", () => say({ event: "leader", name: scheduler.name }));
  scheduler.on("transferredJob", (timestamp, job) => say({ event: "transferredJob", timestamp, job }));
  scheduler.on("error", (error) => say({ event: "error", error: String(error) }));
  scheduler.on("poll", async () => {
    if (Date.now() - started < (options.min_ms ?? 0)) return;
    const left = await scheduler.connection.redis.zcard(scheduler.connection.key("delayed_queue_schedule"));
    if (left === 0) stop("done").catch(fail);
  });
  setTimeout(() => stop("timeout").catch(fail), options.timeout_ms ?? 20000);
  await scheduler.connect();
  await scheduler.start();
  say({ event: "start", name: scheduler.name });
}

main().catch(fail);
