// Test helper: a TCP port that is free on this machine right now (the kernel picks it), for a
// server a test starts whose port must be known before it listens.
import { createServer } from "node:net";

/** A port nothing listens on at this moment (bound on every interface, then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
