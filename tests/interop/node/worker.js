// A node-resque worker with the interop jobs; exits after `expect` jobs ended (or on timeout).
// Input: {"queues": ["q"], "expect": 2, "timeout_ms": 20000, "name": optional}
// Jobs:
//   Record(...args)  RPUSH interop:performed {"class","args","args_json","worker"}
//   Fail(message)    throws Error(message)
//   Block(key)       records itself, then waits until key `interop:release:<key>` exists
// Prints one JSON line per event (start, success, failure, end) to stdout.
"use strict";

const { NR, connectionDetails, input, fail } = require("./common");

function say(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
}

async function main() {
  const options = input();
  const connection = connectionDetails();
  let worker;

  const record = async function (cls, args) {
    const entry = { class: cls, args, args_json: JSON.stringify(args), worker: worker.name };
    await worker.connection.redis.rpush("interop:performed", JSON.stringify(entry));
  };
  const jobs = {
    Record: {
      perform: async (...args) => {
        await record("Record", args);
        return args.length;
      },
    },
    Fail: {
      perform: async (message) => {
        throw new Error(message);
      },
    },
    Block: {
      perform: async (key) => {
        await record("Block", [key]);
        const deadline = Date.now() + (options.block_ms ?? 20000);
        while (Date.now() < deadline) {
          if (await worker.connection.redis.exists("interop:release:" + key)) return "released";
          await new Promise((r) => setTimeout(r, 20));
        }
        throw new Error("Block was never released");
      },
    },
  };

  const workerOptions = { connection, queues: options.queues, timeout: options.poll_ms ?? 50 };
  if (options.name) workerOptions.name = options.name;
  worker = new NR.Worker(workerOptions, jobs);
  let ended = 0;
  const expect = options.expect ?? 1;
  let stopping = false;
  const stop = async (reason) => {
    if (stopping) return;
    stopping = true;
    await worker.end();
    say({ event: "end", reason, ended });
    process.exit(reason === "done" ? 0 : 2);
  };
  worker.on("start", () => say({ event: "start", name: worker.name, queues: worker.queues }));
  worker.on("success", (queue, job, result) => {
    ended += 1;
    say({ event: "success", queue, job, result });
    if (ended >= expect) stop("done").catch(fail);
  });
  worker.on("failure", (queue, job, error) => {
    ended += 1;
    say({ event: "failure", queue, job, error: String(error && error.message) });
    if (ended >= expect) stop("done").catch(fail);
  });
  worker.on("error", (error) => say({ event: "error", error: String(error) }));
  setTimeout(() => stop("timeout").catch(fail), options.timeout_ms ?? 20000);
  await worker.connect();
  await worker.start();
}

main().catch(fail);
