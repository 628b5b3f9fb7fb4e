// A small kustomize renderer: exactly the kustomization fields k8s/ uses (resources, namespace,
// images, patches with a path (strategic merge), secretGenerator with envs), so the deploy test
// can validate what `kubectl apply -k` would send without a kubectl. Any other field is refused
// rather than ignored: a new field in k8s/ needs support here first.
// Differences from kustomize, on purpose: generated Secrets keep their plain name (no content
// hash suffix), and the strategic merge knows only the merge keys k8s/ patches use (lists of
// objects with a "name" merge by name; other lists are replaced) and, at a patch's top level,
// `$patch: delete` (the target is removed).
import fs from "node:fs";
import path from "node:path";
import { parseAllDocuments } from "yaml";

const known_fields = new Set([
  "apiVersion", "kind", "resources", "namespace", "images", "patches", "secretGenerator",
]);
const cluster_scoped = new Set([
  "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
  "PersistentVolume", "StorageClass", "PriorityClass",
]);

/** Every YAML document of a file, as plain objects; throws naming the file on a parse error. */
export function read_yaml_docs(file) {
  const docs = parseAllDocuments(fs.readFileSync(file, "utf8"));
  const out = [];
  for (const d of docs) {
    if (d.errors.length) {
      throw new Error(`${file}: ${d.errors[0].message}`);
    }
    const js = d.toJS();
    if (js !== null && js !== undefined) out.push(js);
  }
  return out;
}

/** Parses a KEY=value env file the way kustomize does (comments and blank lines skipped). */
export function read_env_file(file) {
  const out = {};
  for (const raw of fs.readFileSync(file, "utf8").split("\n")) {
    const line = raw.trimStart();
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) throw new Error(`${file}: a line is not KEY=value`);  // never echo: secrets
    out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

function is_object(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Strategic merge of @p patch into @p base (a new object). null in the patch deletes. */
export function strategic_merge(base, patch) {
  if (!is_object(base) || !is_object(patch)) return structuredClone(patch);
  const out = structuredClone(base);
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) {
      delete out[k];
    } else if (Array.isArray(v) && Array.isArray(out[k]) &&
               v.every((e) => is_object(e) && typeof e.name === "string")) {
      const merged = out[k].slice();
      for (const e of v) {
        const i = merged.findIndex((b) => is_object(b) && b.name === e.name);
        if (i >= 0) merged[i] = strategic_merge(merged[i], e);
        else merged.push(structuredClone(e));
      }
      out[k] = merged;
    } else if (is_object(v) && is_object(out[k])) {
      out[k] = strategic_merge(out[k], v);
    } else {
      out[k] = structuredClone(v);
    }
  }
  return out;
}

function pod_spec(doc) {
  return doc?.spec?.template?.spec ?? (doc?.kind === "Pod" ? doc.spec : undefined);
}

/** The containers and init containers of a workload (empty for other kinds). */
export function containers_of(doc) {
  const spec = pod_spec(doc);
  return spec ? [...(spec.initContainers ?? []), ...(spec.containers ?? [])] : [];
}

function split_image(image) {
  const slash = image.lastIndexOf("/");
  const colon = image.lastIndexOf(":");
  return colon > slash ? [image.slice(0, colon), image.slice(colon + 1)] : [image, undefined];
}

function apply_images(docs, images) {
  for (const doc of docs) {
    for (const c of containers_of(doc)) {
      const [name, tag] = split_image(c.image);
      const rule = images.find((r) => r.name === name);
      if (!rule) continue;
      const new_tag = rule.newTag ?? tag;
      c.image = (rule.newName ?? name) + (new_tag ? `:${new_tag}` : "");
    }
  }
}

/**
 * Renders the kustomization in @p dir. @p options.env_dir, when set, is where secretGenerator
 * env files are read from (by file name) instead of next to the kustomization.
 * @returns {{docs: Array<{file: string, doc: object}>, problems: string[]}} problems are the
 *   structural findings: a resource that does not exist, a YAML file in the directory that the
 *   kustomization does not list, an unknown field, a patch whose target is missing.
 */
export function render(dir, options = {}) {
  const problems = [];
  const kfile = path.join(dir, "kustomization.yaml");
  const [k] = read_yaml_docs(kfile);
  for (const f of Object.keys(k)) {
    if (!known_fields.has(f)) problems.push(`${kfile}: field '${f}' is not supported by the test's renderer`);
  }
  const listed = new Set(["kustomization.yaml"]);
  let docs = [];
  for (const r of k.resources ?? []) {
    const p = path.join(dir, r);
    if (!fs.existsSync(p)) {
      problems.push(`${kfile}: resource '${r}' does not exist`);
      continue;
    }
    if (fs.statSync(p).isDirectory()) {
      const sub = render(p, options);
      problems.push(...sub.problems);
      docs.push(...sub.docs);
    } else {
      listed.add(path.relative(dir, p));
      docs.push(...read_yaml_docs(p).map((doc) => ({ file: p, doc })));
    }
  }
  for (const patch of k.patches ?? []) {
    if (!patch.path || Object.keys(patch).some((f) => f !== "path")) {
      problems.push(`${kfile}: only patches with a path are supported`);
      continue;
    }
    const p = path.join(dir, patch.path);
    if (!fs.existsSync(p)) {
      problems.push(`${kfile}: patch '${patch.path}' does not exist`);
      continue;
    }
    listed.add(path.relative(dir, p));
    for (const pd of read_yaml_docs(p)) {
      const target = docs.find((d) => d.doc.kind === pd.kind && d.doc.metadata?.name === pd.metadata?.name);
      if (!target) {
        problems.push(`${p}: no ${pd.kind} '${pd.metadata?.name}' to patch`);
        continue;
      }
      if (pd.$patch === "delete") {
        docs = docs.filter((d) => d !== target);
      } else if (pd.$patch !== undefined) {
        problems.push(`${p}: $patch: ${pd.$patch} is not supported (only delete)`);
      } else {
        target.doc = strategic_merge(target.doc, pd);
      }
    }
  }
  for (const gen of k.secretGenerator ?? []) {
    const data = {};
    for (const envs of gen.envs ?? []) {
      const file = options.env_dir ? path.join(options.env_dir, path.basename(envs)) : path.join(dir, envs);
      if (!fs.existsSync(file)) {
        problems.push(`${kfile}: secretGenerator ${gen.name}: env file ${file} does not exist`);
        continue;
      }
      for (const [key, v] of Object.entries(read_env_file(file))) {
        data[key] = Buffer.from(v).toString("base64");
      }
    }
    docs.push({
      file: kfile,
      doc: { apiVersion: "v1", kind: "Secret", metadata: { name: gen.name }, type: "Opaque", data },
    });
  }
  if (k.images) apply_images(docs.map((d) => d.doc), k.images);
  if (k.namespace) {
    for (const { doc } of docs) {
      if (!cluster_scoped.has(doc.kind)) doc.metadata = { ...doc.metadata, namespace: k.namespace };
    }
  }
  for (const f of fs.readdirSync(dir)) {
    if (/\.ya?ml$/.test(f) && !listed.has(f)) {
      problems.push(`${path.join(dir, f)}: not listed in ${kfile} (resources or patches)`);
    }
  }
  return { docs, problems };
}
