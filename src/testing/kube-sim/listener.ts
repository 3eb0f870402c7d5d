// The self-signed TLS identity kube-sim serves https with (CN kube-sim, SAN 127.0.0.1/localhost), and a
// listener that speaks http and https on one port by sniffing the first byte. https exists because
// client-go (kubectl) never sends bearer tokens over plain http. The key is a local test fixture.
import { createServer as createHttpServer, type RequestListener, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { type AddressInfo, createServer as createNetServer, type Socket } from "node:net";
import { Duplex } from "node:stream";

const KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgphV+nJQN4mlZDtuZ
u6uKlWGooE2oRfefkxg2j/r7c9+hRANCAATNWBRdJkwpYmGIz3ENHha0lz1VVeaR
9y0XAYvhcBDDgskhy7/w9K2f9jqDrZmwgMDIqgrgw2oQdlWRXMxOmTat
-----END PRIVATE KEY-----`;

const CERT = `-----BEGIN CERTIFICATE-----
MIIBtDCCAVmgAwIBAgIUDq9nN6/nZKbEsoTwJpLHhV1Pr6YwCgYIKoZIzj0EAwIw
EzERMA8GA1UEAwwIa3ViZS1zaW0wIBcNMjYxMTI2MTM1OTE5WhgPMjEyNjExMDIx
MzU5MTlaMBMxETAPBgNVBAMMCGt1YmUtc2ltMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEzVgUXSZMKWJhiM9xDR4WtJc9VVXmkfctFwGL4XAQw4LJIcu/8PStn/Y6
g62ZsIDAyKoK4MNqEHZVkVzMTpk2raOBiDCBhTAdBgNVHQ4EFgQUR0lg/8qaXp7j
H5YFyTKzR441lWQwHwYDVR0jBBgwFoAUR0lg/8qaXp7jH5YFyTKzR441lWQwDwYD
VR0TAQH/BAUwAwEB/zAyBgNVHREEKzAphwR/AAABgglsb2NhbGhvc3SCFmt1YmVy
bmV0ZXMuZGVmYXVsdC5zdmMwCgYIKoZIzj0EAwIDSQAwRgIhAJ9uX+IlEa48JEiY
mrU/37phWQsjhoLrxW8wH3WuBgu/AiEA4Ryw5fOxdg7K9l8TGwhhGKbNIbqHK2G/
3p9t5xGgf60=
-----END CERTIFICATE-----`;

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
  private readonly https: Server;
  private readonly front = createNetServer({ pauseOnConnect: true }, (socket) => this.route(socket));
  private readonly sockets = new Set<Socket>();

  constructor(handler: RequestListener) {
    this.http = createHttpServer(handler);
    this.https = createHttpsServer({ key: KEY, cert: CERT }, handler);
    for (const s of [this.http, this.https]) s.keepAliveTimeout = 1000;
  }

  private route(socket: Socket): void {
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
    socket.once("data", (first: Buffer) => {
      socket.pause();
      if (first[0] === 0x16) {
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

  listen(host: string): Promise<number> {
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
