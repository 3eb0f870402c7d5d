// The self-signed TLS identity kube-sim serves https with (CN kube-sim, SAN 127.0.0.1/localhost), made
// anew by each sim at start (no key ships in the package), and a listener that speaks http and https on
// one port by sniffing the first byte. https exists because client-go (kubectl) never sends bearer
// tokens over plain http.
import { createServer as createHttpServer, type RequestListener, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { type AddressInfo, createServer as createNetServer, type Socket } from "node:net";
import { Duplex } from "node:stream";
import { generate } from "selfsigned";

/** A fresh self-signed identity for this sim: EC P-256, SAN 127.0.0.1, localhost and kubernetes.default.svc. */
async function selfSignedIdentity(): Promise<{ key: string; cert: string }> {
  const pems = await generate([{ name: "commonName", value: "kube-sim" }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    notAfterDate: new Date(Date.now() + 365 * 24 * 3600 * 1000),
    extensions: [
      { name: "basicConstraints", cA: true },
      { name: "keyUsage", digitalSignature: true, keyCertSign: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [
          { type: 7, ip: "127.0.0.1" },
          { type: 2, value: "localhost" },
          { type: 2, value: "kubernetes.default.svc" },
        ],
      },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}

/**
 * A stream that yields `first` and then the socket's data. TLS wraps a net.Socket's native handle
 * directly (bypassing data unshifted onto the JS stream), so the sniffed bytes are handed over this way.
 */
function prepend(socket: Socket, first: Buffer): Duplex {
  const duplex = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk, encoding, callback) {
      socket.write(chunk, encoding, callback);
    },
    final(callback) {
      socket.end();
      callback();
    },
    destroy(error, callback) {
      socket.destroy();
      callback(error);
    },
  });
  duplex.push(first);
  socket.on("data", (d: Buffer) => {
    if (!duplex.push(d)) socket.pause();
  });
  socket.on("end", () => duplex.push(null));
  socket.on("close", () => duplex.destroy());
  return duplex;
}

/** http and https on one loopback port. */
export class DualProtocolListener {
  readonly http: Server;
  private https: Server | undefined;
  /** the PEM certificate https is served with (set by listen) */
  certificate = "";
  private readonly front = createNetServer({ pauseOnConnect: true }, (socket) => this.route(socket));
  private readonly sockets = new Set<Socket>();

  constructor(private readonly handler: RequestListener) {
    this.http = createHttpServer(handler);
    this.http.keepAliveTimeout = 1000;
  }

  private route(socket: Socket): void {
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
    socket.once("data", (first: Buffer) => {
      socket.pause();
      if (first[0] === 0x16 && this.https) {
        this.https.emit("connection", prepend(socket, first));
      } else {
        socket.unshift(first);
        this.http.emit("connection", socket);
        socket.resume();
      }
    });
    socket.on("error", () => socket.destroy());
    socket.resume();
  }

  /** generate the TLS identity, then listen; resolves with the port */
  async listen(host: string): Promise<number> {
    const identity = await selfSignedIdentity();
    this.certificate = identity.cert;
    this.https = createHttpsServer(identity, this.handler);
    this.https.keepAliveTimeout = 1000;
    return new Promise((resolve, reject) => {
      this.front.once("error", reject);
      this.front.listen(0, host, () => resolve((this.front.address() as AddressInfo).port));
    });
  }

  /** stop accepting and drop every connection */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.front.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
  }
}
