#!/usr/bin/env bash
# The Kubernetes end-to-end suite (test/kube-e2e.test.ts) on a real cluster made here with kind or
# k3d: create the cluster (Kubernetes 1.29+), build an image of this checkout and load it into the
# cluster, create the namespace, run the suite with FLOTILLA_TEST_KUBECONFIG /
# FLOTILLA_TEST_NAMESPACE / FLOTILLA_TEST_IMAGE, then delete the cluster (KEEP_CLUSTER=1 keeps it).
#
#   scripts/e2e-real-cluster.sh            # kind (the default)
#   scripts/e2e-real-cluster.sh k3d
#
# Needs a container engine (docker, or podman with KIND_EXPERIMENTAL_PROVIDER=podman for kind),
# kind or k3d, kubectl and network access for the cluster to pull redis:7.0.15-alpine (the broker).
# Environment: CLUSTER (default flotilla-e2e), NAMESPACE (default flotilla-e2e), IMAGE (default
# flotilla-e2e:dev), ENGINE (default docker), KEEP_CLUSTER=1.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOL="${1:-kind}"
CLUSTER="${CLUSTER:-flotilla-e2e}"
NAMESPACE="${NAMESPACE:-flotilla-e2e}"
IMAGE="${IMAGE:-flotilla-e2e:dev}"
ENGINE="${ENGINE:-docker}"

need() { command -v "$1" >/dev/null 2>&1 || { echo "e2e-real-cluster: $1 is not on PATH ($2)" >&2; exit 2; }; }
case "$TOOL" in
  kind) need kind "https://kind.sigs.k8s.io/docs/user/quick-start/#installation" ;;
  k3d) need k3d "https://k3d.io/#installation" ;;
  *) echo "e2e-real-cluster: unknown tool '$TOOL': use kind or k3d" >&2; exit 2 ;;
esac
need "$ENGINE" "a container engine builds the flow image; set ENGINE=podman for podman"
need kubectl "https://kubernetes.io/docs/tasks/tools/"

work="$(mktemp -d "${TMPDIR:-/tmp}/flotilla-e2e-XXXXXX")"
kubeconfig="$work/kubeconfig"
cleanup() {
  if [ "${KEEP_CLUSTER:-}" = 1 ]; then
    echo "e2e-real-cluster: kept cluster $CLUSTER (kubeconfig: $kubeconfig)" >&2
    return
  fi
  case "$TOOL" in
    kind) kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true ;;
    k3d) k3d cluster delete "$CLUSTER" >/dev/null 2>&1 || true ;;
  esac
  rm -rf "$work"
}
trap cleanup EXIT

echo "e2e-real-cluster: creating $TOOL cluster $CLUSTER" >&2
case "$TOOL" in
  kind)
    kind create cluster --name "$CLUSTER" --kubeconfig "$kubeconfig" --wait 120s
    ;;
  k3d)
    k3d cluster create "$CLUSTER" --wait --kubeconfig-update-default=false --kubeconfig-switch-context=false
    k3d kubeconfig get "$CLUSTER" > "$kubeconfig"
    ;;
esac

# the image the runner and the workers run: this checkout, built, with `flotilla` as entrypoint
# (the context is the checkout's files git knows or would add: no node_modules, no build output)
echo "e2e-real-cluster: building $IMAGE" >&2
mkdir -p "$work/context"
git ls-files -z --cached --others --exclude-standard |
  xargs -0 cp --parents -t "$work/context" 2>/dev/null || true
cat > "$work/context/Dockerfile.e2e" <<'DOCKERFILE'
FROM node:22-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY . .
RUN npm run build
ENTRYPOINT ["node", "/app/bin/flotilla.js"]
DOCKERFILE
"$ENGINE" build -t "$IMAGE" -f "$work/context/Dockerfile.e2e" "$work/context"

echo "e2e-real-cluster: loading $IMAGE into $CLUSTER" >&2
case "$TOOL" in
  kind) kind load docker-image "$IMAGE" --name "$CLUSTER" ;;
  k3d) k3d image import "$IMAGE" --cluster "$CLUSTER" ;;
esac

kubectl --kubeconfig "$kubeconfig" create namespace "$NAMESPACE" --dry-run=client -o yaml |
  kubectl --kubeconfig "$kubeconfig" apply -f -

echo "e2e-real-cluster: running test/kube-e2e.test.ts against $CLUSTER" >&2
FLOTILLA_TEST_KUBECONFIG="$kubeconfig" \
  FLOTILLA_TEST_NAMESPACE="$NAMESPACE" \
  FLOTILLA_TEST_IMAGE="$IMAGE" \
  npm test -- test/kube-e2e.test.ts
