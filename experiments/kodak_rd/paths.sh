# Sourced by the kodak_rd scripts: work from the repository root (so reports name paths the same on every
# machine) and take the Kodak images and published curves from KODAK / REFERENCE, relative to that root.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
cd "$REPO"
KODAK="${KODAK:-../shared/data/kodak}"
REFERENCE="${REFERENCE:-../shared/reference/kodak}"
