# shop-web (team payments), prod: Redis cache.
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
  description = "Storefront of the shop; serves the catalogue and the basket."
  tags = {
    service      = "shop-web"
    team         = "payments"
    environment  = "prod"
    description  = "Storefront of the shop serves the catalogue and the basket."
    requested-by = "U056MNOPQR"
  }
}

inputs = {
  replication_group_id = "prod-shop-web"
  description          = "Cache of payments/shop-web in prod"
  engine               = "redis"
  engine_version       = "7.1"
  node_type            = "cache.t4g.micro"

  num_cache_clusters         = 2
  automatic_failover_enabled = true
  multi_az_enabled           = true
  transit_encryption_enabled = true
  at_rest_encryption_enabled = true

  # Daily snapshots, kept 7 days; maintenance never overlaps the snapshot window.
  snapshot_retention_limit = 7
  snapshot_window          = "03:00-04:00"
  maintenance_window       = "sun:05:00-sun:06:00"

  subnet_group_name   = "main-elasticache"
  create_subnet_group = false

  # The module creates the cache's security group; only the service's pods reach it.
  vpc_id = "vpc-00000000000000000"
  security_group_rules = {
    ingress_pods = {
      description                  = "Redis from the pods of shop-web"
      referenced_security_group_id = dependency.security_group.outputs.security_group_id
    }
  }

  tags = local.tags
}
