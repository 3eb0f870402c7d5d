// Which Flotilla server a command talks to: --server, else FLOTILLA_API_URL. On its own so that
// `flotilla run` without a server loads none of the client (its token lookup reads the store's home).

/** The server URL from --server or FLOTILLA_API_URL, or undefined. */
export function serverUrl(flag?: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const url = flag ?? (env.FLOTILLA_API_URL || undefined);
  return url?.replace(/\/+$/, "");
}
