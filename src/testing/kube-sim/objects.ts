// Plain-object helpers shared across kube-sim: the stored object shape, deep copies, timestamps, names.
import { randomBytes } from "node:crypto";

/** A stored Kubernetes object. Kept loose on purpose: kube-sim stores what clients send. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  // biome-ignore lint/suspicious/noExplicitAny: arbitrary API object bodies
  [key: string]: any;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string | null;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
  // biome-ignore lint/suspicious/noExplicitAny: managedFields and friends
  [key: string]: any;
}

export function clone<T>(value: T): T {
  return structuredClone(value);
}

/** RFC 3339 at seconds precision, as the API server writes metadata timestamps. */
export function timestamp(date: Date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** RFC 3339 with microseconds, as MicroTime fields (event series, lease times) carry. */
export function microTimestamp(date: Date = new Date()): string {
  return date.toISOString().replace(/Z$/, "000Z");
}

const NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";

/** `storage/names`: prefix truncated to 58 characters plus 5 random characters. */
export function generateName(prefix: string): string {
  const bytes = randomBytes(5);
  let suffix = "";
  for (const b of bytes) suffix += NAME_ALPHABET[b % NAME_ALPHABET.length];
  return prefix.slice(0, 58) + suffix;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Structural equality for JSON values. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => jsonEqual(a[k], b[k]));
  }
  return false;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
