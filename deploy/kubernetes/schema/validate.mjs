// Validates every manifest in a directory against the Kubernetes JSON
// schemas bundled in the npm package kubernetes-models (offline once
// installed): field types, required fields, enums.
//   node validate.mjs DIR        (exit 1 if any document fails)
import { readFileSync, readdirSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Service } from "kubernetes-models/v1/Service";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";

const models = {
  "apps/v1 StatefulSet": StatefulSet,
  "v1 ConfigMap": ConfigMap,
  "v1 Service": Service,
  "policy/v1 PodDisruptionBudget": PodDisruptionBudget,
};
const dir = process.argv[2];
let failed = 0;
let checked = 0;
for (const file of readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort()) {
  for (const doc of parseAllDocuments(readFileSync(`${dir}/${file}`, "utf8"))) {
    if (doc.errors.length) {
      failed++;
      console.log(`FAIL ${file}: ${doc.errors[0].message}`);
      continue;
    }
    const obj = doc.toJS();
    if (!obj || obj.kind === "Kustomization") continue;
    const Model = models[`${obj.apiVersion} ${obj.kind}`];
    if (!Model) {
      failed++;
      console.log(`FAIL ${file}: no schema for ${obj.apiVersion} ${obj.kind}`);
      continue;
    }
    try {
      new Model(obj).validate();
      checked++;
      console.log(`ok   ${file}: ${obj.kind} ${obj.metadata.name}`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${file}: ${obj.kind}: ${e.message}`);
    }
  }
}
console.log(`${checked} passed, ${failed} failed`);
process.exit(failed || !checked ? 1 : 0);
