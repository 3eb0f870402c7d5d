// The seed's private-registry setup step: make sure the image pull Secret named after
// `dockerSecret` exists, creating it from the Flotilla Secret of that name when missing.
// Invariants: idempotent (an existing Secret, or a 409 from a concurrent create, is success);
// the credentials are checked completely before anything is created (a bad secret creates
// nothing); the password never appears in a message or log; bodies go raw with
// `fieldValidation=Strict`.

import type { ISecret } from "kubernetes-models/v1/Secret";
import { ErrorCode, FlotillaError } from "../core/errors.ts";
import { registerSecret } from "../secrets/redact.ts";
import { Secret } from "../secrets/secret.ts";
import { type KubeClients, rawBody } from "./client.ts";
import { apiCall, isAlreadyExists, isNotFound, translateApiError } from "./errors.ts";
import { Label, MANAGED_BY, pullSecretName } from "./names.ts";

/** The keys the Flotilla Secret's JSON value must have (the seed's). */
export const DOCKER_CREDENTIAL_KEYS = [
  "docker-server",
  "docker-username",
  "docker-password",
  "docker-email",
] as const;

/** Registry credentials as stored in the Flotilla Secret. */
export type DockerCredentials = Record<(typeof DOCKER_CREDENTIAL_KEYS)[number], string>;

/** Reads a Flotilla Secret's JSON value (injectable for tests). */
export type SecretReader = (name: string) => Promise<unknown>;

const readFlotillaSecret: SecretReader = (name) => new Secret(name).getJson();

/** Check the Flotilla Secret's value; throws FLOTILLA_SECRET_INVALID naming the missing keys. */
export function parseDockerCredentials(secretName: string, value: unknown): DockerCredentials {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new FlotillaError(
      ErrorCode.SecretInvalid,
      `secret "${secretName}" must be a JSON object with keys ${DOCKER_CREDENTIAL_KEYS.join(", ")}; got ${Array.isArray(value) ? "an array" : typeof value}`,
      { hint: `store it with \`flotilla secrets set ${secretName}\`` },
    );
  }
  const v = value as Record<string, unknown>;
  const missing = DOCKER_CREDENTIAL_KEYS.filter((k) => typeof v[k] !== "string" || v[k] === "");
  if (missing.length > 0) {
    throw new FlotillaError(
      ErrorCode.SecretInvalid,
      `secret "${secretName}" lacks ${missing.map((k) => `"${k}"`).join(", ")} (each a non-empty string); needs ${DOCKER_CREDENTIAL_KEYS.join(", ")}`,
      { hint: `store the whole JSON object with \`flotilla secrets set ${secretName}\`` },
    );
  }
  registerSecret(v["docker-password"] as string);
  return Object.fromEntries(DOCKER_CREDENTIAL_KEYS.map((k) => [k, v[k] as string])) as DockerCredentials;
}

/** The `kubernetes.io/dockerconfigjson` Secret for `creds` (pure). */
export function buildPullSecret(name: string, namespace: string, creds: DockerCredentials): ISecret {
  const auth = Buffer.from(`${creds["docker-username"]}:${creds["docker-password"]}`).toString("base64");
  registerSecret(auth);
  const config = {
    auths: {
      [creds["docker-server"]]: {
        username: creds["docker-username"],
        password: creds["docker-password"],
        email: creds["docker-email"],
        auth,
      },
    },
  };
  const encoded = Buffer.from(JSON.stringify(config)).toString("base64");
  registerSecret(encoded);
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name,
      namespace,
      labels: { [Label.component]: "pull-secret", [Label.managedBy]: MANAGED_BY },
    },
    type: "kubernetes.io/dockerconfigjson",
    data: { ".dockerconfigjson": encoded },
  };
}

/** What `ensurePullSecret` did. */
export type PullSecretOutcome = "exists" | "created";

/**
 * Make sure the pull Secret for `dockerSecret` exists in `namespace`.
 * @returns "exists" when it was already there (or created concurrently), "created" otherwise.
 */
export async function ensurePullSecret(
  clients: Pick<KubeClients, "core">,
  namespace: string,
  dockerSecret: string,
  readSecret: SecretReader = readFlotillaSecret,
): Promise<PullSecretOutcome> {
  const name = pullSecretName(dockerSecret);
  const call = { resource: "secrets", namespace, name };
  try {
    await clients.core.readNamespacedSecret({ name, namespace });
    return "exists";
  } catch (error) {
    if (!isNotFound(error)) throw translateApiError(error, { verb: "get", ...call });
  }
  const creds = parseDockerCredentials(dockerSecret, await readSecret(dockerSecret));
  const body = buildPullSecret(name, namespace, creds);
  try {
    await apiCall({ verb: "create", ...call }, () =>
      clients.core.createNamespacedSecret(
        { namespace, body: body as never, fieldValidation: "Strict" },
        rawBody(body),
      ),
    );
    return "created";
  } catch (error) {
    if (isAlreadyExists((error as { cause?: unknown }).cause ?? error)) return "exists";
    throw error;
  }
}
