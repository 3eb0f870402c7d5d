// The admission policy that closes what RBAC cannot: `create pods` lets the runner start a pod
// under any ServiceAccount of its namespace (and so borrow that account's token). This
// ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1, Kubernetes 1.30+) and its binding
// confine every pod the runner's account creates to what a worker pod is: the workers' account,
// no API token mounted, Flotilla's worker labels with a run id, owned by a pod. Cluster-scoped
// objects: a cluster admin applies them (`flotilla rbac --admission-policy | kubectl apply -f -`).
// Pure.

import type { IValidatingAdmissionPolicy } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy";
import type { IValidatingAdmissionPolicyBinding } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding";
import { Label, MANAGED_BY } from "./names.ts";
import { DEFAULT_SERVICE_ACCOUNT, DEFAULT_WORKER_SERVICE_ACCOUNT } from "./options.ts";

/** Whose pods and which account they must run under. */
export interface AdmissionPolicyOptions {
  namespace: string;
  /** @default "flotilla-runner" */
  runnerServiceAccount?: string;
  /** @default "flotilla-worker" */
  workerServiceAccount?: string;
}

/** A CEL string literal. */
const lit = (s: string) => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;

/** The policy and its binding (Deny) for the runner of `namespace`. */
export function buildAdmissionPolicy(
  options: AdmissionPolicyOptions,
): [IValidatingAdmissionPolicy, IValidatingAdmissionPolicyBinding] {
  const ns = options.namespace;
  const runner = options.runnerServiceAccount ?? DEFAULT_SERVICE_ACCOUNT;
  const worker = options.workerServiceAccount ?? DEFAULT_WORKER_SERVICE_ACCOUNT;
  const name = `flotilla-runner-pods.${ns}`;
  const labels = { [Label.managedBy]: MANAGED_BY };
  const label = (key: string) => `object.metadata.labels[${lit(key)}]`;
  const hasLabel = (key: string) => `has(object.metadata.labels) && ${lit(key)} in object.metadata.labels`;
  return [
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicy",
      metadata: { name, labels },
      spec: {
        failurePolicy: "Fail",
        matchConstraints: {
          resourceRules: [
            { apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["pods"] },
          ],
        },
        matchConditions: [
          {
            name: "created-by-the-flotilla-runner",
            expression: `request.userInfo.username == ${lit(`system:serviceaccount:${ns}:${runner}`)}`,
          },
        ],
        validations: [
          {
            expression: `has(object.spec.serviceAccountName) && object.spec.serviceAccountName == ${lit(worker)}`,
            message: `the Flotilla runner may only create pods under the workers' ServiceAccount ${worker}`,
            reason: "Forbidden",
          },
          {
            expression:
              "has(object.spec.automountServiceAccountToken) && object.spec.automountServiceAccountToken == false",
            message:
              "pods the Flotilla runner creates mount no API token (automountServiceAccountToken: false)",
            reason: "Forbidden",
          },
          {
            expression: `${hasLabel(Label.managedBy)} && ${label(Label.managedBy)} == ${lit(MANAGED_BY)} && ${hasLabel(Label.component)} && ${label(Label.component)} == 'worker' && ${hasLabel(Label.runId)} && ${label(Label.runId)} != ''`,
            message: `pods the Flotilla runner creates carry the worker labels of their run (${Label.managedBy}=${MANAGED_BY}, ${Label.component}=worker, ${Label.runId})`,
            reason: "Forbidden",
          },
          {
            expression:
              "has(object.metadata.ownerReferences) && object.metadata.ownerReferences.exists(r, r.kind == 'Pod' && has(r.controller) && r.controller)",
            message:
              "pods the Flotilla runner creates are owned by the runner pod (controller owner reference)",
            reason: "Forbidden",
          },
        ],
      },
    },
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicyBinding",
      metadata: { name, labels },
      spec: {
        policyName: name,
        validationActions: ["Deny"],
        matchResources: {
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } },
        },
      },
    },
  ];
}
