// Test helper: a private redis-server for one test file (random port and password), stopped in after().
import { after } from "node:test";
import { type LocalBroker, startLocalBroker } from "../../src/cluster/local-broker.ts";
import { redisServerPath } from "./system.ts";

export async function testBroker(): Promise<LocalBroker> {
  const broker = await startLocalBroker({ redisServer: redisServerPath() });
  after(() => broker.stop());
  return broker;
}
