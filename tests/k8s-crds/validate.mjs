// Reads a JSON array of Kubernetes objects on stdin; validates each custom resource against its
// published CRD schema (@kubernetes-models/*) and prints a JSON array of problems (empty: valid).
// Objects of other API groups are left to kubernetes-validate.
import * as gateway from "@kubernetes-models/gateway-api";
import * as keda from "@kubernetes-models/keda";
import * as prom from "@kubernetes-models/prometheus-operator";

const groups = { "gateway.networking.k8s.io": gateway, "keda.sh": keda, "monitoring.coreos.com": prom };

function modelFor(apiVersion, kind) {
  const [group, version] = apiVersion.split("/");
  const lib = groups[group];
  if (!lib) return undefined;
  const key = Object.keys(lib).find((k) => lib[k] && lib[k][version] && lib[k][version][kind]);
  return key ? lib[key][version][kind] : null;
}

let input = "";
for await (const chunk of process.stdin) input += chunk;
const problems = [];
let checked = 0;
for (const doc of JSON.parse(input)) {
  const Model = modelFor(doc.apiVersion, doc.kind);
  if (Model === undefined) continue;
  const name = `${doc.apiVersion} ${doc.kind} ${doc.metadata?.name}`;
  if (Model === null) {
    problems.push(`${name}: no published schema for this kind`);
    continue;
  }
  try {
    new Model(doc).validate();
    checked++;
  } catch (err) {
    problems.push(`${name}: ${err.message}`);
  }
}
console.log(JSON.stringify({ checked, problems }));
