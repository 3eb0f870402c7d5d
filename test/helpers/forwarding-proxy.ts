// Test helper: a real HTTP proxy on 127.0.0.1 in front of a server, forwarding each request as it
// comes; a test's `onRequest` sees every request first and decides when (or whether) it is forwarded.
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface ForwardingProxy {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Drop every open connection (the proxy goes on listening). */
  dropConnections(): void;
  /** Drop every connection and stop listening. */
  close(): Promise<void>;
}

/**
 * A proxy to `target` (a server's URL). `onRequest` is given each request, its response and
 * `forward` (send it on now); without one every request is forwarded at once.
 */
export async function startForwardingProxy(
  target: string,
  onRequest: (req: http.IncomingMessage, res: http.ServerResponse, forward: () => void) => void = (
    _req,
    _res,
    forward,
  ) => forward(),
): Promise<ForwardingProxy> {
  const to = new URL(target);
  const proxy = http.createServer((req, res) => {
    const forward = () => {
      const out = http.request(
        { host: to.hostname, port: to.port, path: req.url, method: req.method, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      out.on("error", () => res.destroy());
      req.pipe(out);
    };
    onRequest(req, res, forward);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    dropConnections: () => proxy.closeAllConnections(),
    close: () => {
      proxy.closeAllConnections();
      return new Promise((resolve) => proxy.close(() => resolve()));
    },
  };
}
