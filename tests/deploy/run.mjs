// ctest's entry to the deploy test: says what to run when the npm packages are missing, then
// runs deploy_test.mjs (its arguments: the build directory).
import fs from "node:fs";

if (!fs.existsSync(new URL("./node_modules/kubernetes-models/package.json", import.meta.url)) ||
    !fs.existsSync(new URL("./node_modules/yaml/package.json", import.meta.url))) {
  console.error("tests/deploy: npm packages missing: run `npm ci --prefix tests/deploy` (scripts/test.sh does)");
  process.exit(1);
}
await import("./deploy_test.mjs");
