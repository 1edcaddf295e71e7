# invoice-worker (team payments), tmp-q4mig: Redis cache.
# Temporary environment: LaunchPad removes it when its TTL (48 hours) runs out.
# Managed by LaunchPad: change it through a LaunchPad request, or the next render undoes the edit.

include "root" {
  path = find_in_parent_folders("root.hcl")
}

terraform {
  source = "tfr:///terraform-aws-modules/elasticache/aws?version=1.10.3"
}

# The security group of the service's pods.
dependency "security_group" {
  config_path = "../security-group"

  mock_outputs = {
    security_group_id = "sg-00000000000000000"
  }
  mock_outputs_allowed_terraform_commands = ["validate", "plan"]
}

locals {
  # The request's description, verbatim. AWS tags carry a sanitised copy (AWS limits their characters).
  description = "Consumes invoice events; trial run for the Q4 migration."
  tags = {
    service      = "invoice-worker"
    team         = "payments"
    environment  = "tmp-q4mig"
    description  = "Consumes invoice events trial run for the Q4 migration."
    requested-by = "U034GHIJKL"
  }
}

inputs = {
  replication_group_id = "tmp-q4mig-invoice-worker"
  description          = "Cache of payments/invoice-worker in tmp-q4mig"
  engine               = "redis"
  engine_version       = "7.1"
  node_type            = "cache.t4g.micro"

  num_cache_clusters         = 1
  automatic_failover_enabled = false
  multi_az_enabled           = false
  transit_encryption_enabled = true
  at_rest_encryption_enabled = true

  subnet_group_name   = "main-elasticache"
  create_subnet_group = false

  # The module creates the cache's security group; only the service's pods reach it.
  vpc_id = "vpc-00000000000000000"
  security_group_rules = {
    ingress_pods = {
      description                  = "Redis from the pods of invoice-worker"
      referenced_security_group_id = dependency.security_group.outputs.security_group_id
    }
  }

  tags = local.tags
}
