// Authentication (bearer tokens → users) and RBAC authorization over namespaced Roles and RoleBindings,
// with the API server's Forbidden messages and SelfSubjectAccessReview answers.
import { randomBytes } from "node:crypto";
import { type ApiError, forbidden } from "./errors.ts";
import type { KubeObject } from "./objects.ts";
import type { Store } from "./store.ts";

export interface UserInfo {
  name: string;
  groups: string[];
  /** set for service-account users */
  serviceAccount?: { namespace: string; name: string; uid?: string };
}

export interface Attributes {
  verb: string;
  /** API group, "" for core */
  group: string;
  resource: string;
  subresource?: string;
  name?: string;
  namespace?: string;
}

export interface Decision {
  allowed: boolean;
  reason?: string;
}

export const ADMIN_USER: UserInfo = {
  name: "kube-sim-admin",
  groups: ["system:masters", "system:authenticated"],
};

export function serviceAccountUser(namespace: string, name: string, uid?: string): UserInfo {
  return {
    name: `system:serviceaccount:${namespace}:${name}`,
    groups: ["system:serviceaccounts", `system:serviceaccounts:${namespace}`, "system:authenticated"],
    serviceAccount: { namespace, name, ...(uid ? { uid } : {}) },
  };
}

/** Bearer tokens minted by this sim. Service-account tokens stay valid only while their account exists. */
export class TokenAuthenticator {
  private readonly tokens = new Map<string, UserInfo>();
  readonly adminToken: string;

  constructor(private readonly store: Store) {
    this.adminToken = this.mint(ADMIN_USER);
  }

  mint(user: UserInfo): string {
    const token = `kube-sim.${randomBytes(24).toString("base64url")}`;
    this.tokens.set(token, user);
    return token;
  }

  mintForServiceAccount(namespace: string, name: string, uid?: string): string {
    return this.mint(serviceAccountUser(namespace, name, uid));
  }

  authenticate(authorization: string | undefined): UserInfo | undefined {
    const m = /^Bearer\s+(.+)$/i.exec(authorization ?? "");
    const user = m ? this.tokens.get(m[1]!.trim()) : undefined;
    if (!user?.serviceAccount) return user;
    const sa = this.store.get("serviceaccounts", user.serviceAccount.namespace, user.serviceAccount.name);
    if (!sa) return undefined;
    if (user.serviceAccount.uid && sa.metadata.uid !== user.serviceAccount.uid) return undefined;
    return user;
  }
}

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

function ruleAllows(rule: PolicyRule, a: Attributes): boolean {
  const verbs = rule.verbs ?? [];
  if (!verbs.includes("*") && !verbs.includes(a.verb)) return false;
  const groups = rule.apiGroups ?? [];
  if (!groups.includes("*") && !groups.includes(a.group)) return false;
  const resources = rule.resources ?? [];
  const combined = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const resourceOk =
    resources.includes("*") ||
    resources.includes(combined) ||
    (a.subresource !== undefined &&
      (resources.includes(`${a.resource}/*`) || resources.includes(`*/${a.subresource}`)));
  if (!resourceOk) return false;
  const names = rule.resourceNames ?? [];
  if (names.length === 0) return true;
  return a.name !== undefined && a.name !== "" && names.includes(a.name);
}

function subjectMatches(subject: Record<string, unknown>, user: UserInfo, bindingNamespace: string): boolean {
  if (subject.kind === "ServiceAccount") {
    const ns =
      typeof subject.namespace === "string" && subject.namespace ? subject.namespace : bindingNamespace;
    return user.name === `system:serviceaccount:${ns}:${String(subject.name)}`;
  }
  if (subject.kind === "User") return user.name === subject.name;
  if (subject.kind === "Group") return user.groups.includes(String(subject.name));
  return false;
}

function describeSubject(subject: Record<string, unknown>, bindingNamespace: string): string {
  if (subject.kind === "ServiceAccount") {
    const ns =
      typeof subject.namespace === "string" && subject.namespace ? subject.namespace : bindingNamespace;
    return `ServiceAccount "${String(subject.name)}/${ns}"`;
  }
  return `${String(subject.kind)} "${String(subject.name)}"`;
}

/** Verbs every authenticated user has cluster-wide (system:basic-user, system:discovery). */
function isBasicUserRequest(a: Attributes): boolean {
  return (
    a.verb === "create" &&
    a.group === "authorization.k8s.io" &&
    (a.resource === "selfsubjectaccessreviews" || a.resource === "selfsubjectrulesreviews")
  );
}

export class RbacAuthorizer {
  constructor(private readonly store: Store) {}

  authorize(user: UserInfo, a: Attributes): Decision {
    if (user.groups.includes("system:masters")) {
      return {
        allowed: true,
        reason:
          'RBAC: allowed by ClusterRoleBinding "cluster-admin" of ClusterRole "cluster-admin" to Group "system:masters"',
      };
    }
    if (isBasicUserRequest(a)) {
      return {
        allowed: true,
        reason:
          'RBAC: allowed by ClusterRoleBinding "system:basic-user" of ClusterRole "system:basic-user" to Group "system:authenticated"',
      };
    }
    if (!a.namespace) return { allowed: false };
    const errors: string[] = [];
    for (const binding of this.store.list("rolebindings.rbac.authorization.k8s.io", a.namespace)) {
      const subjects: Record<string, unknown>[] = binding.subjects ?? [];
      const subject = subjects.find((s) => subjectMatches(s, user, a.namespace!));
      if (!subject) continue;
      const ref = binding.roleRef ?? {};
      if (ref.kind !== "Role") {
        errors.push(`clusterrole.rbac.authorization.k8s.io "${ref.name}" not found`);
        continue;
      }
      const role = this.store.get("roles.rbac.authorization.k8s.io", a.namespace, ref.name);
      if (!role) {
        errors.push(`role.rbac.authorization.k8s.io "${ref.name}" not found`);
        continue;
      }
      if ((role.rules ?? []).some((r: PolicyRule) => ruleAllows(r, a))) {
        return {
          allowed: true,
          reason: `RBAC: allowed by RoleBinding "${binding.metadata.name}/${a.namespace}" of Role "${ref.name}" to ${describeSubject(subject, a.namespace)}`,
        };
      }
    }
    return errors.length > 0 ? { allowed: false, reason: `RBAC: ${errors.join(", ")}` } : { allowed: false };
  }

  /** the 403 for a denied request, worded as the API server words it */
  forbiddenError(user: UserInfo, a: Attributes, decision: Decision): ApiError {
    const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
    const scope = a.namespace ? `in the namespace "${a.namespace}"` : "at the cluster scope";
    let reason = `User "${user.name}" cannot ${a.verb} resource "${resource}" in API group "${a.group}" ${scope}`;
    if (decision.reason) reason += `: ${decision.reason}`;
    return forbidden({ resource: a.resource, group: a.group }, a.name, reason);
  }

  /** RBAC escalation check: may `user` grant every rule in `rules` within `namespace`? */
  missingRules(user: UserInfo, namespace: string, rules: PolicyRule[]): PolicyRule[] {
    return rules.filter((rule) => {
      for (const group of rule.apiGroups ?? []) {
        for (const resource of rule.resources ?? []) {
          const [res, sub] = resource.split("/");
          for (const verb of rule.verbs ?? []) {
            const names = rule.resourceNames?.length ? rule.resourceNames : [undefined];
            for (const name of names) {
              const attrs: Attributes = {
                verb,
                group,
                resource: res!,
                namespace,
                ...(sub ? { subresource: sub } : {}),
                ...(name ? { name } : {}),
              };
              if (!this.authorize(user, attrs).allowed) return true;
            }
          }
        }
      }
      return false;
    });
  }
}

/** `{APIGroups:[""], Resources:["pods"], Verbs:["create"]}` as the escalation message prints rules */
export function describeRule(rule: PolicyRule): string {
  const list = (xs: string[] | undefined) => `[${(xs ?? []).map((x) => JSON.stringify(x)).join(" ")}]`;
  const parts = [`APIGroups:${list(rule.apiGroups)}`, `Resources:${list(rule.resources)}`];
  if (rule.resourceNames?.length) parts.push(`ResourceNames:${list(rule.resourceNames)}`);
  parts.push(`Verbs:${list(rule.verbs)}`);
  return `{${parts.join(", ")}}`;
}

export type { KubeObject, PolicyRule };
