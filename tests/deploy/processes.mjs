// Child processes for the deploy test: started with their output in files, polled with a
// deadline (never a fixed sleep), and all killed at the end.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";

/** The environment a child starts from: PATH and sanitizer settings only, so no OPAL_* variable
 *  of the caller changes what the binaries do. */
export function base_env() {
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(ASAN|UBSAN|LSAN|TSAN)_OPTIONS$/.test(k)) env[k] = v;
  }
  return env;
}

export class process_group {
  constructor(log_dir) {
    this.log_dir = log_dir;
    this.children = [];
  }

  /** Starts @p bin with @p args; stdout and stderr go to <log_dir>/<name>.log. */
  start(name, bin, args, env) {
    const log = path.join(this.log_dir, `${name}.log`);
    const fd = fs.openSync(log, "a");
    const child = spawn(bin, args, { env, stdio: ["ignore", fd, fd] });
    fs.closeSync(fd);
    const entry = { name, child, log, exited: null };
    child.on("exit", (code, signal) => { entry.exited = { code, signal }; });
    child.on("error", (e) => { entry.exited = { code: null, signal: null, error: e.message }; });
    this.children.push(entry);
    return entry;
  }

  /** SIGTERM to every child still running, SIGKILL to those still there after 5 s. */
  async stop_all() {
    const running = this.children.filter((e) => e.exited === null && e.child.pid);
    for (const e of running) e.child.kill("SIGTERM");
    const deadline = Date.now() + 5000;
    while (running.some((e) => e.exited === null) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const e of running) {
      if (e.exited === null) e.child.kill("SIGKILL");
    }
  }

  /** The last lines of a child's log, for a failure message. */
  tail(entry, lines = 15) {
    try {
      return fs.readFileSync(entry.log, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "(no log)";
    }
  }
}

/**
 * Calls @p probe until it returns a truthy value (returned) or @p ms pass (throws with
 * @p what and the last value or error seen). @p entry, when given, must stay alive.
 */
export async function poll(what, ms, probe, entry) {
  const deadline = Date.now() + ms;
  let last = "nothing yet";
  for (;;) {
    if (entry && entry.exited !== null) {
      throw new Error(`${what}: ${entry.name} exited (${JSON.stringify(entry.exited)})`);
    }
    try {
      const v = await probe();
      if (v) return v;
      last = "not yet";
    } catch (e) {
      last = e.message;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms (last: ${last})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A port free on 127.0.0.1 right now. */
export function free_port() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The port a binary wrote to its --port-file, or undefined while it has not. */
export function read_port_file(file) {
  try {
    const text = fs.readFileSync(file, "utf8").trim();
    return /^\d+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

/** GET @p url: {status, body}; throws on connection errors. */
export async function http_get(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  return { status: res.status, body: await res.text() };
}

/** True when a Redis server answers PING on 127.0.0.1:@p port. */
export function redis_ping(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, "127.0.0.1");
    let data = "";
    const done = (v) => { sock.destroy(); resolve(v); };
    sock.setTimeout(1000, () => done(false));
    sock.on("error", () => done(false));
    sock.on("connect", () => sock.write("PING\r\n"));
    sock.on("data", (d) => {
      data += d;
      if (data.includes("\r\n")) done(data.startsWith("+PONG"));
    });
  });
}

/** Runs a command to completion: {status, stdout, stderr}. */
export function run(bin, args, env, input) {
  const r = spawnSync(bin, args, { env, encoding: "utf8", input, timeout: 60000 });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "", error: r.error };
}
