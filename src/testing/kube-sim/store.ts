// The object store: every object by resource/namespace/name, one global resourceVersion counter
// (like etcd's revision), a uid index, and a bounded history of change events for watches.
// Invariants: stored objects and history entries are private deep copies; a no-op write keeps the RV
// and emits nothing.
import { clone, jsonEqual, type KubeObject } from "./objects.ts";

export type EventType = "ADDED" | "MODIFIED" | "DELETED";

export interface StoreEvent {
  type: EventType;
  /** `pods`, `jobs.batch` */
  resource: string;
  /** snapshot at `rv`; treat as read-only */
  object: KubeObject;
  /** the previous state for MODIFIED and DELETED */
  old?: KubeObject;
  rv: number;
}

export type StoreListener = (event: StoreEvent) => void;

function key(namespace: string | undefined, name: string): string {
  return `${namespace ?? ""}/${name}`;
}

function withoutRv(obj: KubeObject): KubeObject {
  const { resourceVersion: _rv, managedFields: _mf, ...metadata } = obj.metadata;
  return { ...obj, metadata };
}

export class Store {
  private revision = 1;
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private readonly byUid = new Map<string, { resource: string; namespace?: string; name: string }>();
  private readonly history: StoreEvent[] = [];
  private readonly listeners = new Set<StoreListener>();

  constructor(private readonly historyLimit = 5000) {}

  get resourceVersion(): number {
    return this.revision;
  }

  /** the oldest RV a watch can resume from */
  get oldestResumableVersion(): number {
    return this.history[0] ? this.history[0].rv - 1 : this.revision;
  }

  get(resource: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const obj = this.objects.get(resource)?.get(key(namespace, name));
    return obj ? clone(obj) : undefined;
  }

  has(resource: string, namespace: string | undefined, name: string): boolean {
    return this.objects.get(resource)?.has(key(namespace, name)) ?? false;
  }

  /** objects of a resource, optionally in one namespace, ordered by namespace then name */
  list(resource: string, namespace?: string): KubeObject[] {
    const all = [...(this.objects.get(resource)?.values() ?? [])];
    return all
      .filter((o) => namespace === undefined || o.metadata.namespace === namespace)
      .sort((a, b) =>
        key(a.metadata.namespace, a.metadata.name!).localeCompare(
          key(b.metadata.namespace, b.metadata.name!),
        ),
      )
      .map(clone);
  }

  /** every stored resource name */
  resources(): string[] {
    return [...this.objects.keys()];
  }

  findByUid(uid: string): { resource: string; namespace?: string; name: string } | undefined {
    return this.byUid.get(uid);
  }

  create(resource: string, obj: KubeObject): KubeObject {
    const stored = clone(obj);
    const rv = ++this.revision;
    stored.metadata.resourceVersion = String(rv);
    let bucket = this.objects.get(resource);
    if (!bucket) {
      bucket = new Map();
      this.objects.set(resource, bucket);
    }
    bucket.set(key(stored.metadata.namespace, stored.metadata.name!), stored);
    if (stored.metadata.uid) {
      this.byUid.set(stored.metadata.uid, {
        resource,
        namespace: stored.metadata.namespace,
        name: stored.metadata.name!,
      });
    }
    this.emit({ type: "ADDED", resource, object: clone(stored), rv });
    return clone(stored);
  }

  /** Replace a stored object. Returns the stored copy; a no-op keeps the old RV and emits nothing. */
  update(resource: string, obj: KubeObject): KubeObject {
    const bucket = this.objects.get(resource);
    const k = key(obj.metadata.namespace, obj.metadata.name!);
    const old = bucket?.get(k);
    if (!bucket || !old) throw new Error(`kube-sim store: update of missing ${resource} ${k}`);
    if (jsonEqual(withoutRv(old), withoutRv(obj))) return clone(old);
    const stored = clone(obj);
    const rv = ++this.revision;
    stored.metadata.resourceVersion = String(rv);
    bucket.set(k, stored);
    this.emit({ type: "MODIFIED", resource, object: clone(stored), old: clone(old), rv });
    return clone(stored);
  }

  remove(resource: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const bucket = this.objects.get(resource);
    const k = key(namespace, name);
    const old = bucket?.get(k);
    if (!bucket || !old) return undefined;
    bucket.delete(k);
    if (old.metadata.uid) this.byUid.delete(old.metadata.uid);
    const rv = ++this.revision;
    const last = clone(old);
    last.metadata.resourceVersion = String(rv);
    this.emit({ type: "DELETED", resource, object: clone(last), old: clone(old), rv });
    return last;
  }

  /** history events with rv > since, or undefined if `since` is older than the history kept */
  eventsSince(since: number): StoreEvent[] | undefined {
    if (since < this.oldestResumableVersion) return undefined;
    return this.history.filter((e) => e.rv > since);
  }

  subscribe(listener: StoreListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: StoreEvent): void {
    this.history.push(event);
    if (this.history.length > this.historyLimit)
      this.history.splice(0, this.history.length - this.historyLimit);
    for (const l of [...this.listeners]) l(event);
  }
}
