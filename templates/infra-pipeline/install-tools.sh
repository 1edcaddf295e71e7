# Installs OpenTofu and Terragrunt at the versions the platform pins (TOFU_VERSION, TERRAGRUNT_VERSION),
# each checked against its release's SHA256SUMS, and puts them on PATH for the next steps.
set -euo pipefail
bin="$RUNNER_TEMP/launchpad-bin"
mkdir -p "$bin"
cd "$RUNNER_TEMP"
tofu_zip="tofu_${TOFU_VERSION}_linux_amd64.zip"
curl -fsSLO "https://github.com/opentofu/opentofu/releases/download/v${TOFU_VERSION}/${tofu_zip}"
curl -fsSLO "https://github.com/opentofu/opentofu/releases/download/v${TOFU_VERSION}/tofu_${TOFU_VERSION}_SHA256SUMS"
grep " ${tofu_zip}\$" "tofu_${TOFU_VERSION}_SHA256SUMS" | sha256sum --check --strict
unzip -q -o "$tofu_zip" tofu -d "$bin"
curl -fsSLO "https://github.com/gruntwork-io/terragrunt/releases/download/v${TERRAGRUNT_VERSION}/terragrunt_linux_amd64"
curl -fsSL -o terragrunt_SHA256SUMS \
  "https://github.com/gruntwork-io/terragrunt/releases/download/v${TERRAGRUNT_VERSION}/SHA256SUMS"
grep " terragrunt_linux_amd64\$" terragrunt_SHA256SUMS | sha256sum --check --strict
install -m 0755 terragrunt_linux_amd64 "$bin/terragrunt"
echo "$bin" >> "$GITHUB_PATH"
"$bin/tofu" version
"$bin/terragrunt" --version
