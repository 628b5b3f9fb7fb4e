// The deploy test (ctest -L deploy): node deploy_test.mjs BUILD_DIR
//  1. k8s/generate-secrets.sh writes the overlay's env files (into a temp dir), prints no secret,
//     and keeps them on a second run.
//  2. Every document of k8s/base, and of k8s/overlays/example rendered by kustomize.mjs
//     (resources + strategic-merge patches + images + namespace + secretGenerator), is valid
//     against the Kubernetes schemas (kubernetes-models) and follows the rules of k8s/ (non-root,
//     read-only root, probes on declared ports, requests set, references resolve); kustomization
//     resources exist and every YAML file is listed.
//  3. Every config a ConfigMap carries passes `check-config` of the binary whose container mounts
//     it with --config, with the environment the manifests give that container.
//  4. A real redis-server, opal-server and opal-client (beside the OPA stand-in) run with the
//     ConfigMap configs and the manifests' env, on loopback with ports 0: the probe paths the
//     manifests name answer 200 (the server's /ready only once Redis is up), on ports the
//     configs and the manifests agree on; an update published with the datasource token reaches
//     the store; no log holds a secret.
//  5. k8s/overlays/redis-sentinel (Redis with Sentinel, docs/replicas.md) renders and passes the
//     same checks; the servers' OPAL_BROADCAST_URI names exactly the sentinels of the Redis
//     StatefulSet (its pods' names under its headless Service, the sentinel port) and the master
//     name its scripts monitor, min_replicas can still be met with one pod lost, the scripts
//     parse (sh -n), and the server's config with that environment passes check-config.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import test from "node:test";
import { fileURLToPath } from "node:url";
import { parse as parse_yaml, stringify as stringify_yaml } from "yaml";

import { containers_of, read_env_file, read_yaml_docs, render } from "./kustomize.mjs";
import { policy_problems, reference_problems, resolve_port, schema_problems } from "./manifest_checks.mjs";
import {
  base_env, free_port, http_get, poll, process_group, read_port_file, redis_ping, run,
} from "./processes.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
const build_dir = path.resolve(process.argv[2] ?? path.join(repo, "build"));
const base_dir = path.join(repo, "k8s/base");
const overlay_dir = path.join(repo, "k8s/overlays/example");
const sentinel_overlay_dir = path.join(repo, "k8s/overlays/redis-sentinel");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "pdl-deploy-"));
const procs = new process_group(work);
const bin = (name) => path.join(build_dir, name);

const state = {};  // filled by the steps in order

function expect_no_problems(problems) {
  assert.deepEqual(problems, [], `\n  ${problems.join("\n  ")}`);
}

function decode_secrets(docs) {  // Secret name -> {key: value}
  const out = {};
  for (const { doc } of docs) {
    if (doc.kind !== "Secret") continue;
    out[doc.metadata.name] = Object.fromEntries(
      Object.entries(doc.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]));
  }
  return out;
}

/** The environment a container gets from its manifest (literal values and Secret keys). */
function container_env(container, secrets) {
  const env = {};
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.secretKeyRef) {
      env[e.name] = secrets[e.valueFrom.secretKeyRef.name]?.[e.valueFrom.secretKeyRef.key];
    }
  }
  return env;
}

/** The binary a container runs: the last path part of its image name, without the tag. */
function binary_of(container) {
  return container.image.split("/").pop().split(":")[0];
}

/** For each config a ConfigMap carries: the containers that mount it and pass it as --config. */
function config_consumers(docs) {
  const out = [];
  for (const { doc: cm } of docs.filter((d) => d.doc.kind === "ConfigMap")) {
    for (const [key, text] of Object.entries(cm.data ?? {})) {
      const users = [];
      for (const { doc } of docs) {
        const volumes = (doc.spec?.template?.spec?.volumes ?? []).filter((v) => v.configMap?.name === cm.metadata.name);
        for (const c of containers_of(doc)) {
          for (const m of c.volumeMounts ?? []) {
            if (!volumes.some((v) => v.name === m.name)) continue;
            const args = [...(c.command ?? []), ...(c.args ?? [])];
            const i = args.indexOf("--config");
            if (i >= 0 && args[i + 1] === `${m.mountPath}/${key}`) users.push({ workload: doc, container: c });
          }
        }
      }
      const file = path.join(work, "configs", cm.metadata.name, key);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, text);
      out.push({ configmap: cm.metadata.name, key, file, text, users });
    }
  }
  return out;
}

/** The manifest args with --config pointing at @p config_file and --data-dir at @p data_dir. */
function local_args(container, config_file, data_dir) {
  const args = [...(container.args ?? [])];
  for (let i = 0; i < args.length - 1; ++i) {
    if (args[i] === "--config") args[i + 1] = config_file;
    if (args[i] === "--data-dir") args[i + 1] = data_dir;
  }
  return args;
}

function service_for(docs, host, port) {
  return docs.find((d) => d.doc.kind === "Service" && d.doc.metadata.name === host &&
                          (d.doc.spec.ports ?? []).some((p) => p.port === port))?.doc;
}

function url_port(u) {
  return Number(u.port || (u.protocol === "https:" ? 443 : u.protocol === "redis:" ? 6379 : 80));
}

test("deploy", async (t) => {
  t.after(async () => {
    await procs.stop_all();
    if (!process.env.PDL_KEEP_DEPLOY_WORK) fs.rmSync(work, { recursive: true, force: true });
  });
  for (const b of ["opal-server", "opal-client", "opa-standin"]) {
    assert.ok(fs.existsSync(bin(b)), `${bin(b)} missing: build it first (BUILD_DIR argument)`);
  }

  await t.test("generate-secrets.sh: env files, no secret printed, kept on a re-run", () => {
    const out_dir = path.join(work, "secrets");
    const script = path.join(repo, "k8s/generate-secrets.sh");
    const env = { ...base_env(), TMPDIR: work };
    const first = run("bash", [script, "--out-dir", out_dir, "--bin-dir", build_dir], env);
    assert.equal(first.status, 0, `generate-secrets failed:\n${first.stderr}`);
    const files = ["server.env", "client.env", "datasource.env"];
    const values = {};
    for (const f of files) {
      const st = fs.statSync(path.join(out_dir, f));
      assert.equal(st.mode & 0o077, 0, `${f} is readable by group or others`);
      values[f] = read_env_file(path.join(out_dir, f));
    }
    assert.deepEqual(Object.keys(values["server.env"]).sort(),
      ["OPAL_AUTH_MASTER_TOKEN", "OPAL_AUTH_PRIVATE_KEY", "OPAL_AUTH_PUBLIC_KEY"]);
    assert.deepEqual(Object.keys(values["client.env"]), ["OPAL_CLIENT_TOKEN"]);
    assert.deepEqual(Object.keys(values["datasource.env"]), ["OPAL_CLIENT_TOKEN"]);
    const printed = first.stdout + first.stderr;
    const secrets = [
      values["server.env"].OPAL_AUTH_MASTER_TOKEN,
      values["client.env"].OPAL_CLIENT_TOKEN,
      values["datasource.env"].OPAL_CLIENT_TOKEN,
      // a line of base64 from inside the private key
      values["server.env"].OPAL_AUTH_PRIVATE_KEY.split("_")[2],
    ];
    for (const s of secrets) {
      assert.ok(s && s.length >= 20, "a generated secret is missing or short");
      assert.ok(!printed.includes(s), "generate-secrets printed a secret");
    }
    const claims = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());
    assert.equal(claims(values["client.env"].OPAL_CLIENT_TOKEN).peer_type, "client");
    assert.equal(claims(values["datasource.env"].OPAL_CLIENT_TOKEN).peer_type, "datasource");

    const second = run("bash", [script, "--out-dir", out_dir, "--bin-dir", build_dir], env);
    assert.equal(second.status, 0, second.stderr);
    assert.match(second.stdout, /kept/);
    assert.deepEqual(read_env_file(path.join(out_dir, "client.env")), values["client.env"]);
    state.secret_dir = out_dir;
    state.secret_values = secrets;
  });

  await t.test("k8s/base: every document valid, rules followed, every file listed", async () => {
    const { docs, problems } = render(base_dir);
    expect_no_problems(problems);
    assert.ok(docs.length >= 8, `only ${docs.length} documents in k8s/base`);
    expect_no_problems(await schema_problems(docs));
    expect_no_problems(policy_problems(docs));
    const server = docs.find((d) => d.doc.kind === "Deployment" && d.doc.metadata.name === "opal-server");
    assert.equal(server?.doc.spec.replicas, 2, "the server Deployment has 2 replicas");
  });

  await t.test("k8s/overlays/example: rendered (resources, patches, images, namespace, secretGenerator)", async () => {
    assert.ok(state.secret_dir, "needs the generated secrets");
    // The patch documents alone are partial objects: they are checked inside the render, where
    // the schema sees the patched Deployments whole.
    const { docs, problems } = render(overlay_dir, { env_dir: state.secret_dir });
    expect_no_problems(problems);
    expect_no_problems(await schema_problems(docs));
    expect_no_problems(policy_problems(docs));
    expect_no_problems(reference_problems(docs));
    const ns = docs.find((d) => d.doc.kind === "Namespace")?.doc.metadata.name;
    assert.ok(ns, "the overlay creates its namespace");
    for (const { doc } of docs) {
      if (doc.kind !== "Namespace") assert.equal(doc.metadata.namespace, ns, `${doc.kind}/${doc.metadata.name}`);
      for (const c of containers_of(doc)) {
        assert.ok(!/^pdl\//.test(c.image), `${c.name}: image ${c.image} not set by the overlay`);
      }
    }
    const app = docs.find((d) => d.doc.metadata.name === "example-app").doc;
    const agent = containers_of(app).find((c) => binary_of(c) === "opal-client");
    assert.ok(agent.env.some((e) => e.name === "OPAL_DATA_TOPICS"), "the topics patch applied");
    assert.ok(agent.env.some((e) => e.name === "OPAL_CLIENT_TOKEN"), "the patch kept the base env");
    state.docs = docs;
  });

  await t.test("check-config of the right binary on every ConfigMap config", (st) => {
    assert.ok(state.docs, "needs the overlay render");
    const secrets = decode_secrets(state.docs);
    state.consumers = config_consumers(state.docs);
    assert.ok(state.consumers.length >= 2, "a server and an agent config");
    state.broadcast_supported = true;
    for (const c of state.consumers) {
      assert.ok(c.users.length > 0, `${c.configmap}/${c.key}: no container mounts it and passes it with --config`);
      for (const { container } of c.users) {
        const b = binary_of(container);
        assert.ok(["opal-server", "opal-client"].includes(b), `${container.name}: unknown binary ${b}`);
        const env = { ...base_env(), ...container_env(container, secrets) };
        const r = run(bin(b), ["check-config", "--config", c.file], env);
        if (r.status !== 0 && b === "opal-server" && /broadcast/.test(r.stderr)) {
          // The Redis-backed update log (broadcast.uri) is not in this build yet.
          state.broadcast_supported = false;
          st.diagnostic(`SKIP ${c.configmap}/${c.key}: this opal-server refuses 'broadcast': ${r.stderr.trim()}`);
          continue;
        }
        assert.equal(r.status, 0, `${b} check-config ${c.configmap}/${c.key}:\n${r.stdout}${r.stderr}`);
      }
    }
  });

  await t.test("server (with Redis) and agent answer the manifests' probes", async (st) => {
    assert.ok(state.consumers, "needs the configs");
    const docs = state.docs;
    const secrets = decode_secrets(docs);
    const server_use = state.consumers.flatMap((c) => c.users.map((u) => ({ ...u, c })))
      .find((u) => binary_of(u.container) === "opal-server");
    const agent_use = state.consumers.flatMap((c) => c.users.map((u) => ({ ...u, c })))
      .find((u) => binary_of(u.container) === "opal-client");
    assert.ok(server_use && agent_use, "a server and an agent container");
    const server_cfg = parse_yaml(server_use.c.text);
    const agent_cfg = parse_yaml(agent_use.c.text);

    // Static: the ports the configs listen on are the ports the manifests probe and route to.
    const sc = server_use.container;
    for (const p of [sc.readinessProbe, sc.livenessProbe]) {
      assert.equal(resolve_port(sc, p.httpGet.port), server_cfg.server.port, "server probe port = server.port");
    }
    const ac = agent_use.container;
    for (const p of [ac.readinessProbe, ac.livenessProbe]) {
      assert.equal(resolve_port(ac, p.httpGet.port), agent_cfg.api.port, "agent probe port = api.port");
    }
    assert.notEqual(server_cfg.server.host, "127.0.0.1", "server.host must let the kubelet in");
    assert.notEqual(agent_cfg.api.host, "127.0.0.1", "api.host must let the kubelet in");
    const server_url = new URL(agent_cfg.server.url);
    const svc = service_for(docs, server_url.hostname, url_port(server_url));
    assert.ok(svc, `agent server.url ${agent_cfg.server.url}: no such Service and port`);
    const svc_port = svc.spec.ports.find((p) => p.port === url_port(server_url));
    assert.equal(resolve_port(sc, svc_port.targetPort), server_cfg.server.port, "Service targetPort = server.port");
    const store_url = new URL(agent_cfg.policy_store.url);
    assert.equal(store_url.hostname, "localhost", "the agent talks to OPA over localhost");
    const opa = containers_of(agent_use.workload).find((c) => c.image.includes("openpolicyagent/opa"));
    assert.ok(opa, "OPA runs in the agent's pod");
    assert.ok(opa.args.includes(`--addr=localhost:${url_port(store_url)}`), "OPA listens where the agent writes");
    let redis_svc;
    if (server_cfg.broadcast?.uri) {
      const u = new URL(server_cfg.broadcast.uri);
      redis_svc = service_for(docs, u.hostname, url_port(u));
      assert.ok(redis_svc, `broadcast.uri ${server_cfg.broadcast.uri}: no such Service and port`);
      const redis_pod = docs.find((d) => d.doc.kind === "Deployment" &&
        containers_of(d.doc).some((c) => c.image.startsWith("redis:")))?.doc;
      const redis_c = containers_of(redis_pod).find((c) => c.image.startsWith("redis:"));
      assert.ok([...(redis_c.command ?? []), ...(redis_c.args ?? [])].join(" ").includes("--appendonly yes"),
        "Redis runs with AOF on");
    }

    // Runtime. Redis is picked a port now but started after the server, so /ready is seen
    // turning from 503 to 200 when Redis comes up.
    const redis_port = await free_port();
    let server_config_file = server_use.c.file;
    if (server_cfg.blobs?.dir) {
      // The root is read-only in the pod: the blob folder must be a volume the container mounts.
      assert.ok((sc.volumeMounts ?? []).some((m) => m.mountPath === server_cfg.blobs.dir),
        `blobs.dir ${server_cfg.blobs.dir} is not a volume mounted in the server container`);
      // Here, a folder of the test's own stands in for that volume.
      server_cfg.blobs.dir = path.join(work, "blobs");
      server_config_file = path.join(work, "server-local.yaml");
      fs.writeFileSync(server_config_file, stringify_yaml(server_cfg));
    }
    if (!state.broadcast_supported) {
      delete server_cfg.broadcast;
      server_config_file = path.join(work, "server-without-broadcast.yaml");
      fs.writeFileSync(server_config_file, stringify_yaml(server_cfg));
      st.diagnostic("SKIP Redis readiness: this opal-server refuses 'broadcast' (the Redis update log is not in yet)");
    }
    const server_env = {
      ...base_env(), ...container_env(sc, secrets), OPAL_SERVER_HOST: "127.0.0.1",
      ...(state.broadcast_supported ? { OPAL_BROADCAST_URI: `redis://127.0.0.1:${redis_port}` } : {}),
    };
    const server_port_file = path.join(work, "server.port");
    const server = procs.start("opal-server", bin("opal-server"),
      [...local_args(sc, server_config_file, ""), "--port", "0", "--port-file", server_port_file], server_env);
    const server_port = await poll("server port file", 20000, () => read_port_file(server_port_file), server);
    const server_base = `http://127.0.0.1:${server_port}`;
    try {
      await poll(`server ${sc.livenessProbe.httpGet.path} 200`, 20000,
        async () => (await http_get(server_base + sc.livenessProbe.httpGet.path)).status === 200, server);
      if (state.broadcast_supported) {
        const before = await http_get(server_base + sc.readinessProbe.httpGet.path);
        assert.equal(before.status, 503, `server ${sc.readinessProbe.httpGet.path} before Redis is up`);
        const redis_dir = path.join(work, "redis");
        fs.mkdirSync(redis_dir);
        const redis = procs.start("redis-server", "redis-server",
          ["--port", String(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
           "--dir", redis_dir], base_env());
        await poll("redis PING", 20000, () => redis_ping(redis_port), redis);
      }
      await poll(`server ${sc.readinessProbe.httpGet.path} 200`, 30000,
        async () => (await http_get(server_base + sc.readinessProbe.httpGet.path)).status === 200, server);
    } catch (e) {
      throw new Error(`${e.message}\nopal-server log:\n${procs.tail(server)}`);
    }

    const opa_port_file = path.join(work, "opa.port");
    const opa_proc = procs.start("opa-standin", bin("opa-standin"),
      ["--addr", "127.0.0.1:0", "--port-file", opa_port_file], base_env());
    const opa_port = await poll("opa-standin port file", 20000, () => read_port_file(opa_port_file), opa_proc);
    const agent_port_file = path.join(work, "agent.port");
    const agent_env = {
      ...base_env(), ...container_env(ac, secrets),
      OPAL_CLIENT_API_SERVER_HOST: "127.0.0.1", OPAL_CLIENT_API_SERVER_PORT: "0",
      OPAL_SERVER_URL: server_base, OPAL_POLICY_STORE_URL: `http://127.0.0.1:${opa_port}`,
    };
    const agent = procs.start("opal-client", bin("opal-client"),
      [...local_args(ac, agent_use.c.file, path.join(work, "agent-data")), "--port-file", agent_port_file],
      agent_env);
    try {
      const agent_port = await poll("agent port file", 20000, () => read_port_file(agent_port_file), agent);
      for (const p of [ac.livenessProbe, ac.readinessProbe]) {
        await poll(`agent ${p.httpGet.path} 200`, 30000,
          async () => (await http_get(`http://127.0.0.1:${agent_port}${p.httpGet.path}`)).status === 200, agent);
      }
      // The datasource token from the Secret publishes; the agent writes the update into the store.
      const topic = agent_env.OPAL_DATA_TOPICS?.split(",")[0] ?? agent_cfg.data.topics[0];
      const ds_token = secrets["opal-datasource-token"].OPAL_CLIENT_TOKEN;
      const pub = run(bin("opal-client"), ["publish-data-update", "--uri", server_base, "-t", topic,
        "--data", '{"deployed":true}', "--dst-path", "/deploy_test"], { ...base_env(), OPAL_CLIENT_TOKEN: ds_token });
      assert.equal(pub.status, 0, `publish-data-update:\n${pub.stdout}${pub.stderr}`);
      await poll("the update in the store", 30000, async () => {
        const r = await http_get(`http://127.0.0.1:${opa_port}/v1/data/deploy_test`);
        return r.status === 200 && JSON.parse(r.body).result?.deployed === true;
      }, agent);
    } catch (e) {
      throw new Error(`${e.message}\nopal-client log:\n${procs.tail(agent)}\nopal-server log:\n${procs.tail(server)}`);
    }

    // Idle memory as deployed, for the requests in the manifests (reported, not asserted: a
    // sanitizer build is much larger).
    for (const e of [server, agent]) {
      const status = fs.readFileSync(`/proc/${e.child.pid}/status`, "utf8");
      st.diagnostic(`${e.name} VmRSS ${status.match(/VmRSS:\s+(\d+ kB)/)?.[1]}`);
    }
    await procs.stop_all();
    for (const e of [server, agent]) {
      const log = fs.readFileSync(e.log, "utf8");
      for (const s of state.secret_values) assert.ok(!log.includes(s), `${e.name}'s log holds a secret`);
    }
  });

  await t.test("k8s/overlays/redis-sentinel: the servers find the primary through the StatefulSet's sentinels", async () => {
    assert.ok(state.secret_dir, "needs the generated secrets");
    const { docs, problems } = render(sentinel_overlay_dir, { env_dir: state.secret_dir });
    expect_no_problems(problems);
    expect_no_problems(await schema_problems(docs));
    expect_no_problems(policy_problems(docs));
    expect_no_problems(reference_problems(docs));
    const ns = docs.find((d) => d.doc.kind === "Namespace")?.doc.metadata.name;
    assert.ok(ns, "the overlay creates its namespace");
    for (const { doc } of docs) {
      if (doc.kind !== "Namespace") assert.equal(doc.metadata.namespace, ns, `${doc.kind}/${doc.metadata.name}`);
    }
    const get = (kind, name) => docs.find((d) => d.doc.kind === kind && d.doc.metadata.name === name)?.doc;
    assert.ok(!get("Deployment", "opal-redis") && !get("Service", "opal-redis"), "the base's single Redis is gone");
    const sts = get("StatefulSet", "opal-redis");
    assert.ok(sts, "StatefulSet opal-redis");
    const headless = get("Service", sts.spec.serviceName);
    assert.ok(headless, `the StatefulSet's serviceName ${sts.spec.serviceName} is a Service`);
    assert.equal(headless.spec.clusterIP, "None", "a headless Service names the pods");
    assert.equal(headless.spec.publishNotReadyAddresses, true, "starting pods keep their names");
    const sentinel_port = headless.spec.ports.find((p) => p.name === "sentinel")?.port;
    assert.equal(sentinel_port, 26379);
    for (const c of containers_of(sts)) {
      assert.ok(c.image.startsWith("redis:"), `${c.name}: the Redis image`);
    }

    const secrets = decode_secrets(docs);
    const server = get("Deployment", "opal-server");
    const sc = containers_of(server).find((c) => binary_of(c) === "opal-server");
    const env = container_env(sc, secrets);
    const uri = env.OPAL_BROADCAST_URI ?? "";
    const m = uri.match(/^redis-sentinel:\/\/([^/#@]+)(?:\/\d+)?#([A-Za-z0-9_.:-]+)$/);
    assert.ok(m, `OPAL_BROADCAST_URI ${uri}: not redis-sentinel://host:port,...#master`);
    const hosts = m[1].split(",");
    const expected = Array.from({ length: sts.spec.replicas },
      (_, i) => `${sts.metadata.name}-${i}.${headless.metadata.name}:${sentinel_port}`);
    assert.deepEqual(hosts, expected, "the URI names every sentinel of the StatefulSet");
    const scripts = get("ConfigMap", "opal-redis-scripts");
    assert.ok(scripts, "ConfigMap opal-redis-scripts");
    assert.ok(scripts.data["find-primary.sh"].includes(`master=${m[2]}`),
      `the scripts monitor the master the URI names (${m[2]})`);
    const min = Number(env.OPAL_BROADCAST_MIN_REPLICAS);
    assert.ok(min >= 1, "min_replicas >= 1: an acknowledged update survives the primary");
    assert.ok(min <= sts.spec.replicas - 2, "min_replicas can still be met with one Redis pod lost");
    for (const [key, text] of Object.entries(scripts.data)) {
      const file = path.join(work, "sentinel-scripts", key);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, text);
      const r = run("sh", ["-n", file], base_env());
      assert.equal(r.status, 0, `sh -n ${key}:\n${r.stderr}`);
    }
    const netpol = get("NetworkPolicy", "opal-redis");
    const ports = netpol.spec.ingress.flatMap((i) => i.ports.map((p) => p.port));
    assert.ok(ports.includes(26379) && ports.includes(6379), "the servers may reach Redis and the sentinels");

    const cm = server.spec.template.spec.volumes.find((v) => v.configMap)?.configMap.name;
    const mount = sc.volumeMounts.find((vm) => server.spec.template.spec.volumes
      .some((v) => v.name === vm.name && v.configMap?.name === cm));
    const args = [...(sc.command ?? []), ...(sc.args ?? [])];
    const config_path = args[args.indexOf("--config") + 1];
    const key = path.relative(mount.mountPath, config_path);
    const file = path.join(work, "sentinel-config", key);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, get("ConfigMap", cm).data[key]);
    const r = run(bin("opal-server"), ["check-config", "--config", file], { ...base_env(), ...env });
    assert.equal(r.status, 0, `opal-server check-config with the overlay's environment:\n${r.stdout}${r.stderr}`);
    const printed = run(bin("opal-server"), ["print-config", "--config", file], { ...base_env(), ...env });
    assert.equal(printed.status, 0, printed.stderr);
    assert.match(printed.stdout, /min_replicas: 1/);
    assert.match(printed.stdout, /redis-sentinel:\/\/opal-redis-0\.opal-redis-headless:26379,/);
  });
});
