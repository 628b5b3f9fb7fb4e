// Checks on rendered manifests: Kubernetes schema validation (kubernetes-models) and the rules
// k8s/ promises (non-root, read-only root, probes on declared ports, requests set, references
// that resolve). Each function returns a list of problems ("file: kind/name: what").
import { containers_of } from "./kustomize.mjs";

const model_cache = new Map();

/** The kubernetes-models class for a document's apiVersion and kind. */
async function model_for(api_version, kind) {
  const key = `${api_version}/${kind}`;
  if (!model_cache.has(key)) {
    const [group, version] = api_version.includes("/") ? api_version.split("/") : ["", api_version];
    const dir = group === "" ? version : `${group}/${version}`;
    let cls = null;
    try {
      cls = (await import(`kubernetes-models/${dir}/${kind}`))[kind];
    } catch {
      cls = null;
    }
    model_cache.set(key, cls);
  }
  return model_cache.get(key);
}

function where(file, doc) {
  return `${file}: ${doc?.kind ?? "?"}/${doc?.metadata?.name ?? "?"}`;
}

/** Validates each document against the Kubernetes schema of its kind. */
export async function schema_problems(docs) {
  const problems = [];
  for (const { file, doc } of docs) {
    if (!doc?.apiVersion || !doc?.kind) {
      problems.push(`${where(file, doc)}: no apiVersion or kind`);
      continue;
    }
    const cls = await model_for(doc.apiVersion, doc.kind);
    if (!cls) {
      problems.push(`${where(file, doc)}: no Kubernetes schema for ${doc.apiVersion} ${doc.kind}`);
      continue;
    }
    try {
      new cls(doc).validate();
    } catch (e) {
      problems.push(`${where(file, doc)}: ${e.message}`);
    }
  }
  return problems;
}

/** The containerPort a probe or targetPort (a number or a port name) designates, or undefined. */
export function resolve_port(container, port) {
  if (typeof port === "number") {
    return (container.ports ?? []).some((p) => p.containerPort === port) ? port : undefined;
  }
  return (container.ports ?? []).find((p) => p.name === port)?.containerPort;
}

/** The security, resource and probe rules every workload in k8s/ follows. */
export function policy_problems(docs) {
  const problems = [];
  for (const { file, doc } of docs) {
    const spec = doc?.spec?.template?.spec;
    if (!spec) continue;
    const at = where(file, doc);
    const pod_sc = spec.securityContext ?? {};
    for (const c of containers_of(doc)) {
      const sc = c.securityContext ?? {};
      const cat = `${at}: container ${c.name}`;
      if ((sc.runAsNonRoot ?? pod_sc.runAsNonRoot) !== true) problems.push(`${cat}: runAsNonRoot is not true`);
      if ((sc.runAsUser ?? pod_sc.runAsUser) !== 65532) problems.push(`${cat}: runAsUser is not 65532`);
      if (sc.readOnlyRootFilesystem !== true) problems.push(`${cat}: readOnlyRootFilesystem is not true`);
      if (sc.allowPrivilegeEscalation !== false) problems.push(`${cat}: allowPrivilegeEscalation is not false`);
      if (!(sc.capabilities?.drop ?? []).includes("ALL")) problems.push(`${cat}: capabilities do not drop ALL`);
      if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory) {
        problems.push(`${cat}: no cpu and memory requests`);
      }
      for (const kind of ["readinessProbe", "livenessProbe"]) {
        const port = c[kind]?.httpGet?.port ?? c[kind]?.tcpSocket?.port;
        if (port !== undefined && resolve_port(c, port) === undefined) {
          problems.push(`${cat}: ${kind} port ${port} is not a containerPort`);
        }
      }
      if (c.image?.startsWith("pdl/") || c.image?.includes("/pdl/")) {
        if (!c.readinessProbe?.httpGet || c.readinessProbe.httpGet.path !== "/ready") {
          problems.push(`${cat}: readinessProbe is not GET /ready`);
        }
        if (!c.livenessProbe?.httpGet || c.livenessProbe.httpGet.path !== "/healthy") {
          problems.push(`${cat}: livenessProbe is not GET /healthy`);
        }
      }
      const volumes = new Set([...(spec.volumes ?? []), ...(doc.spec.volumeClaimTemplates ?? []).map((t) => t.metadata)]
        .map((v) => v.name));
      for (const m of c.volumeMounts ?? []) {
        if (!volumes.has(m.name)) problems.push(`${cat}: volumeMount ${m.name} has no volume`);
      }
    }
  }
  return problems;
}

/**
 * In a complete render (an overlay): every Secret/ConfigMap a workload names exists, with the
 * keys it names; every Service selects some workload's pods and its targetPort is a port of them.
 */
export function reference_problems(docs) {
  const problems = [];
  const find = (kind, name, ns) => docs.find((d) => d.doc.kind === kind && d.doc.metadata?.name === name &&
                                                   d.doc.metadata?.namespace === ns)?.doc;
  for (const { file, doc } of docs) {
    const ns = doc.metadata?.namespace;
    const at = where(file, doc);
    const spec = doc?.spec?.template?.spec;
    for (const c of containers_of(doc)) {
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
        if (!ref) continue;
        const kind = e.valueFrom.secretKeyRef ? "Secret" : "ConfigMap";
        const target = find(kind, ref.name, ns);
        if (!target) problems.push(`${at}: env ${e.name}: no ${kind} '${ref.name}'`);
        else if (!(ref.key in (target.data ?? {}))) {
          problems.push(`${at}: env ${e.name}: ${kind} '${ref.name}' has no key ${ref.key}`);
        }
      }
    }
    for (const v of spec?.volumes ?? []) {
      if (v.configMap && !find("ConfigMap", v.configMap.name, ns)) {
        problems.push(`${at}: volume ${v.name}: no ConfigMap '${v.configMap.name}'`);
      }
      if (v.secret && !find("Secret", v.secret.secretName, ns)) {
        problems.push(`${at}: volume ${v.name}: no Secret '${v.secret.secretName}'`);
      }
    }
    if (doc.kind === "Service") {
      const selector = doc.spec?.selector ?? {};
      const pods = docs.filter((d) => d.doc.metadata?.namespace === ns && d.doc.spec?.template?.metadata?.labels &&
        Object.entries(selector).every(([k, v]) => d.doc.spec.template.metadata.labels[k] === v));
      if (pods.length === 0) {
        problems.push(`${at}: selects no pods`);
        continue;
      }
      for (const p of doc.spec.ports ?? []) {
        const target = p.targetPort ?? p.port;
        const ok = pods.some((d) => containers_of(d.doc).some((c) => resolve_port(c, target) !== undefined));
        if (!ok) problems.push(`${at}: port ${p.name ?? p.port}: targetPort ${target} is no container's port`);
      }
    }
  }
  return problems;
}
