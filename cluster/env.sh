# Sourced by the cluster scripts: paths to the project-local runtime (librdkafka 2.16 first on the
# library path, the Tansu binary, PostgreSQL's server binaries).
KASSA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export KASSA_ROOT
export LD_LIBRARY_PATH="$KASSA_ROOT/.local/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PATH="$KASSA_ROOT/.local/bin:/usr/lib/postgresql/15/bin:$PATH"
