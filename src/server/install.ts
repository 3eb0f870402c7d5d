// What `flotilla server install` prints (pure): the server's Deployment (one replica, Recreate, so
// one process owns the SQLite file on its PersistentVolumeClaim; with an external PostgreSQL the
// database URL comes from a Secret by secretKeyRef and is never in the output), its Service, and
// the PVC in SQLite mode. Health probes use GET /api/health (no token).

import type { IDeployment } from "kubernetes-models/apps/v1/Deployment";
import type { IPersistentVolumeClaim } from "kubernetes-models/v1/PersistentVolumeClaim";
import type { IService } from "kubernetes-models/v1/Service";

/** Options of the printed server install. */
export interface ServerInstallOptions {
  namespace: string;
  /** An image with flotilla as its entrypoint. */
  image: string;
  /** Use the PostgreSQL whose URL is in this Secret (key `url`); absent: SQLite on a PVC. */
  databaseSecret?: string;
  /** Size of the SQLite volume. @default "1Gi" */
  storage?: string;
  /** @default 4200 */
  port?: number;
}

export const SERVER_NAME = "flotilla";
const HOME = "/var/lib/flotilla";

/** The objects `flotilla server install` prints, in the order kubectl applies them. */
export function buildServerInstall(
  o: ServerInstallOptions,
): (IPersistentVolumeClaim | IDeployment | IService)[] {
  const ns = o.namespace;
  const port = o.port ?? 4200;
  const selector = { "app.kubernetes.io/name": SERVER_NAME, "app.kubernetes.io/component": "server" };
  const labels = { ...selector, "app.kubernetes.io/managed-by": "flotilla" };
  const sqlite = o.databaseSecret === undefined;
  const objects: (IPersistentVolumeClaim | IDeployment | IService)[] = [];
  if (sqlite) {
    objects.push({
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: SERVER_NAME, namespace: ns, labels },
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: o.storage ?? "1Gi" } } },
    });
  }
  const probe = { httpGet: { path: "/api/health", port: "http" } };
  objects.push(
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: SERVER_NAME, namespace: ns, labels },
      spec: {
        // one process owns the SQLite file (and runs the scheduler): the old pod ends first
        replicas: 1,
        strategy: { type: "Recreate" },
        selector: { matchLabels: selector },
        template: {
          metadata: { labels },
          spec: {
            automountServiceAccountToken: false, // the server calls no Kubernetes API
            containers: [
              {
                name: "server",
                image: o.image,
                // runs are launched by agents (flotilla agent install kubernetes), not in this pod
                args: ["server", "--host", "0.0.0.0", "--port", String(port), "--no-agent"],
                ports: [{ name: "http", containerPort: port }],
                env: [
                  // the home holds the admin token (mode 0600) and, with SQLite, the database
                  { name: "FLOTILLA_HOME", value: HOME },
                  ...(sqlite
                    ? []
                    : [
                        {
                          name: "FLOTILLA_DATABASE_URL",
                          valueFrom: { secretKeyRef: { name: o.databaseSecret!, key: "url" } },
                        },
                      ]),
                ],
                volumeMounts: [{ name: "home", mountPath: HOME }],
                readinessProbe: { ...probe, periodSeconds: 5 },
                livenessProbe: { ...probe, periodSeconds: 20, failureThreshold: 3 },
                resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "1Gi" } },
                securityContext: { allowPrivilegeEscalation: false },
              },
            ],
            volumes: [
              sqlite
                ? { name: "home", persistentVolumeClaim: { claimName: SERVER_NAME } }
                : { name: "home", emptyDir: {} },
            ],
          },
        },
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: SERVER_NAME, namespace: ns, labels },
      spec: { selector, ports: [{ name: "http", port, targetPort: "http" }] },
    },
  );
  return objects;
}
