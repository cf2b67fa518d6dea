// Runs a list of node-resque Queue operations and prints their results as one JSON array.
// Input: [{"op": "enqueue", "queue": "q", "class": "C", "args": [...]}, ...]
// An operation that throws yields {"error": "<message>"} in its place.
"use strict";

const { NR, connectionDetails, input, fail } = require("./common");

async function run(queue, op) {
  switch (op.op) {
    case "enqueue":
      return queue.enqueue(op.queue, op.class, op.args);
    case "enqueueAt":
      return queue.enqueueAt(op.timestamp_ms, op.queue, op.class, op.args);
    case "enqueueIn":
      return queue.enqueueIn(op.delay_ms, op.queue, op.class, op.args);
    case "scheduledAt":
      return queue.scheduledAt(op.queue, op.class, op.args);
    case "delDelayed":
      return queue.delDelayed(op.queue, op.class, op.args);
    case "queues":
      return queue.queues();
    case "length":
      return queue.length(op.queue);
    case "queued":
      return queue.queued(op.queue, op.start ?? 0, op.stop ?? -1);
    case "del":
      return queue.del(op.queue, op.class, op.args, op.count ?? 0);
    case "delByFunction":
      return queue.delByFunction(op.queue, op.class, op.start ?? 0, op.stop ?? -1);
    case "failedCount":
      return queue.failedCount();
    case "failed":
      return queue.failed(op.start ?? 0, op.stop ?? -1);
    case "removeFailedAt": {
      const [entry] = await queue.failed(op.index, op.index);
      return queue.removeFailed(entry);
    }
    case "retryAndRemoveFailedAt": {
      const [entry] = await queue.failed(op.index, op.index);
      return queue.retryAndRemoveFailed(entry);
    }
    case "workers":
      return queue.workers();
    case "workingOn":
      return queue.workingOn(op.name, op.queues);
    case "allWorkingOn":
      return queue.allWorkingOn();
    case "stats":
      return queue.stats();
    case "cleanOldWorkers":
      return queue.cleanOldWorkers(op.age_ms);
    default:
      throw new Error(`unknown op ${op.op}`);
  }
}

async function main() {
  const ops = input();
  const queue = new NR.Queue({ connection: connectionDetails() });
  queue.on("error", (error) => process.stderr.write(`queue error: ${error}\n`));
  await queue.connect();
  const results = [];
  for (const op of ops) {
    try {
      const value = await run(queue, op);
      results.push(value === undefined ? null : value);
    } catch (error) {
      results.push({ error: String((error && error.message) || error) });
    }
  }
  await queue.end();
  process.stdout.write(JSON.stringify(results) + "\n");
}

main().catch(fail);
