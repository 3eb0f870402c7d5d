// Registry credentials for `flotilla build --push`: the same Flotilla Secret format as the
// private-registry pull secret (a JSON object with docker-server, docker-username, docker-password,
// docker-email). Invariant: errors name the secret and the keys, never a value.

import { ErrorCode, FlotillaError } from "../core/errors.ts";
import { zod } from "../core/zod-on-demand.ts";
import { registerSecret } from "../secrets/redact.ts";
import { Secret, type SecretOptions } from "../secrets/secret.ts";

const z = zod();

/** The default secret name, as in the seed's `docker_secret`. */
export const DEFAULT_REGISTRY_SECRET = "DOCKER_REGISTRY_CREDENTIALS";

/** Registry credentials as stored in the secret. */
export interface RegistryCredentials {
  "docker-server": string;
  "docker-username": string;
  "docker-password": string;
  "docker-email"?: string;
}

const credentialsSchema = z.object({
  "docker-server": z.string().min(1),
  "docker-username": z.string().min(1),
  "docker-password": z.string().min(1),
  "docker-email": z.string().optional(),
});

const EXAMPLE =
  '{"docker-server":"gcr.io","docker-username":"_json_key","docker-password":"...","docker-email":"me@example.com"}';

/** Read and check the registry credentials secret `name`. */
export async function readRegistryCredentials(
  name: string,
  options: SecretOptions = {},
): Promise<RegistryCredentials> {
  return parseRegistryCredentials(name, await new Secret(name, options).getJson());
}

/**
 * Check a registry credentials value (the parsed JSON of secret `name`); shared by `flotilla build
 * --push` and the Kubernetes pull-secret step. Registers the password and base64(user:password)
 * with the scrubber. Throws FLOTILLA_SECRET_INVALID naming the bad keys, never a value.
 */
export function parseRegistryCredentials(name: string, data: unknown): RegistryCredentials {
  const parsed = credentialsSchema.safeParse(data);
  if (!parsed.success) {
    const keys = [...new Set(parsed.error.issues.map((i) => String(i.path[0] ?? "(the value)")))];
    throw new FlotillaError(
      ErrorCode.SecretInvalid,
      `secret "${name}" is not registry credentials: ${keys.join(", ")} missing or not a non-empty string`,
      {
        hint: `store a JSON object like ${EXAMPLE} with \`flotilla secrets set ${name} --from-file creds.json\``,
      },
    );
  }
  const creds = parsed.data;
  registerSecret(creds["docker-password"]);
  // the form engines store in their auth file (and a registry may echo): base64("user:password")
  registerSecret(Buffer.from(`${creds["docker-username"]}:${creds["docker-password"]}`).toString("base64"));
  return creds;
}
