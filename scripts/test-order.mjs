// The order in which `npm test` hands the test files to node's test runner. The runner starts them
// in the order given, two at a time (--test-concurrency=2), so a long file given late runs on alone
// while the other core has nothing left to do. Longest first: the files below, slowest first, then
// every other file alphabetically (the short ones fill in at the end). The figures are each file's
// seconds in the last fresh-clone CI run (.ci/run, 2 cores); when a file's time changes a lot, move
// it. A file missing here only starts later; a name here that is not a file is passed over.

/** The slowest test files, slowest first, with their seconds in a fresh-clone CI run. */
export const SLOWEST = [
  ["test/kube-e2e.test.ts", 180],
  ["test/cli-runs-logs.test.ts", 91],
  ["test/consumer.test.ts", 81],
  ["test/faults-kube.test.ts", 71],
  ["test/cli-conventions.test.ts", 70],
  ["test/agent-kubernetes.test.ts", 65],
  ["test/dashboard.test.ts", 59],
  ["test/cli-kube-context.test.ts", 54],
  ["test/faults.test.ts", 54],
  ["test/agent.test.ts", 54],
  ["test/kube-dry-run.test.ts", 49],
  ["test/secrets-leak-kube.test.ts", 48],
  ["test/agent-kubernetes-reporting.test.ts", 46],
  ["test/kube-sim-deployments.test.ts", 43],
  ["test/server.test.ts", 32],
  ["test/kube-sim-admission-policy.test.ts", 28],
  ["test/cli.test.ts", 22],
  ["test/faults-sim.test.ts", 21],
  ["test/cluster-lifecycle.redis.test.ts", 20],
  ["test/kube-sim-workloads.test.ts", 18],
  ["test/cli-run-id.test.ts", 17],
  ["test/docs-examples.test.ts", 17],
  ["test/kube-old-server.test.ts", 16],
];

/**
 * `files` (paths relative to the repository, as `test/x.test.ts`) in the order to start them: those
 * in SLOWEST in its order, then the rest sorted by name.
 */
export function orderTestFiles(files) {
  const rank = new Map(SLOWEST.map(([file], i) => [file, i]));
  const known = files.filter((f) => rank.has(f)).sort((a, b) => rank.get(a) - rank.get(b));
  const rest = files.filter((f) => !rank.has(f)).sort();
  return [...known, ...rest];
}
