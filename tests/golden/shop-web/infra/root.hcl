# Shared by every package in this repository: each one includes it with
#   include "root" { path = find_in_parent_folders("root.hcl") }
# Managed by LaunchPad; the platform team changes it through LaunchPad's settings.
#
# A package's account and region are read from its own path, laid out as
#   {account_id}/{region}/{env}/{team}/{service}/{component}/terragrunt.hcl
locals {
  path_parts = split("/", path_relative_to_include())
  account_id = local.path_parts[0]
  region     = local.path_parts[1]
}

# One state bucket per account and one lock table; the state key is the package's path, so two
# packages never share a state file.
remote_state {
  backend = "s3"
  generate = {
    path      = "backend.tf"
    if_exists = "overwrite_terragrunt"
  }
  config = {
    bucket         = "${local.account_id}-terraform-state"
    key            = "${path_relative_to_include()}/terraform.tfstate"
    region         = "eu-west-1"
    encrypt        = true
    dynamodb_table = "terraform-locks"
  }
}

# allowed_account_ids stops a package from being applied with another account's credentials.
generate "provider" {
  path      = "provider.tf"
  if_exists = "overwrite_terragrunt"
  contents  = <<-EOF
    provider "aws" {
      region              = "${local.region}"
      allowed_account_ids = ["${local.account_id}"]

      default_tags {
        tags = {
          managed-by = "launchpad"
        }
      }
    }
  EOF
}
