// Flotilla Secrets: the public surface of `src/secrets` (resolution, the local file store, and the
// scrubber every secret value goes through).

export {
  assertSecretName,
  defaultSecretsFilePath,
  SECRETS_FILE_ENV,
  SecretsFile,
} from "./file.ts";
export { registerSecret, scrub } from "./redact.ts";
export {
  type ResolvedSecret,
  Secret,
  type SecretOptions,
  type SecretSource,
  secretEnvName,
} from "./secret.ts";
