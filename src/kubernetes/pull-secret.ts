// The seed's private-registry setup step: make sure the image pull Secret named after
// `dockerSecret` exists, creating it from the Flotilla Secret of that name when missing.
// Invariants: idempotent (an existing Secret, or a 409 from a concurrent create, is success);
// the credentials are checked completely, by the parser `flotilla build --push` uses (docker-server,
// docker-username, docker-password, optional docker-email), before anything is created (a bad
// secret creates nothing); the password never appears in a message or log; bodies go raw with
// `fieldValidation=Strict`.

import type { ISecret } from "kubernetes-models/v1/Secret";
import { FlotillaError } from "../core/errors.ts";
import { registerSecret } from "../secrets/redact.ts";
import { Secret } from "../secrets/secret.ts";
import { parseRegistryCredentials, type RegistryCredentials } from "../storage/docker-credentials.ts";
import { type KubeClients, rawBody } from "./client.ts";
import { apiCall, isAlreadyExists, isNotFound, translateApiError } from "./errors.ts";
import { Label, MANAGED_BY, pullSecretName } from "./names.ts";

/** Reads a Flotilla Secret's JSON value (injectable for tests). */
export type SecretReader = (name: string) => Promise<unknown>;

const readFlotillaSecret: SecretReader = (name) => new Secret(name).getJson();

/** The `kubernetes.io/dockerconfigjson` Secret for `creds` (pure). */
export function buildPullSecret(name: string, namespace: string, creds: RegistryCredentials): ISecret {
  const auth = Buffer.from(`${creds["docker-username"]}:${creds["docker-password"]}`).toString("base64");
  registerSecret(auth);
  const config = {
    auths: {
      [creds["docker-server"]]: {
        username: creds["docker-username"],
        password: creds["docker-password"],
        ...(creds["docker-email"] ? { email: creds["docker-email"] } : {}),
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

/** The Flotilla secret's registry credentials, or the error saying why they cannot make the pull Secret. */
async function readCredentials(
  namespace: string,
  dockerSecret: string,
  readSecret: SecretReader,
): Promise<RegistryCredentials> {
  const name = pullSecretName(dockerSecret);
  try {
    return parseRegistryCredentials(dockerSecret, await readSecret(dockerSecret));
  } catch (error) {
    if (!(error instanceof FlotillaError)) throw error;
    // say why the secret is needed and the other way out (the messages name no value)
    throw new FlotillaError(
      error.code,
      `privateRegistry: the image pull Secret "${name}" is not in namespace "${namespace}" and cannot be made from Flotilla secret "${dockerSecret}": ${error.message}`,
      {
        hint: `${error.hint ?? `store it with \`flotilla secrets set ${dockerSecret}\``}; or create the pull Secret yourself: \`kubectl create secret docker-registry ${name} -n ${namespace} --docker-server=... --docker-username=... --docker-password=...\``,
      },
    );
  }
}

/**
 * Why setup could not make a missing pull Secret (the error it would fail with), or undefined when
 * it could. Reads and checks the Flotilla secret; creates nothing.
 */
export async function pullSecretProblem(
  namespace: string,
  dockerSecret: string,
  readSecret: SecretReader = readFlotillaSecret,
): Promise<FlotillaError | undefined> {
  try {
    await readCredentials(namespace, dockerSecret, readSecret);
    return undefined;
  } catch (error) {
    if (error instanceof FlotillaError) return error;
    throw error;
  }
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
  const creds = await readCredentials(namespace, dockerSecret, readSecret);
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
