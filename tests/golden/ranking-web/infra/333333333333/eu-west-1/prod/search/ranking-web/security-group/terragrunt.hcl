# ranking-web (team search), prod: security group of the service's pods.
# Managed by LaunchPad: change it through a LaunchPad request, or the next render undoes the edit.

include "root" {
  path = find_in_parent_folders("root.hcl")
}

terraform {
  source = "tfr:///terraform-aws-modules/security-group/aws?version=5.3.1"
}

locals {
  # The request's description, verbatim. AWS tags carry a sanitised copy (AWS limits their characters).
  description = "Ranks search results for the storefront. Owner: #search-team — \"ask before changing weights\".\n"
  tags = {
    service      = "ranking-web"
    team         = "search"
    environment  = "prod"
    description  = "Ranks search results for the storefront. Owner: search-team ask before changing weights ."
    requested-by = "U012ABCDEF"
  }
}

inputs = {
  name            = "prod-ranking-web-pods"
  description     = "Pods of search/ranking-web in prod"
  vpc_id          = "vpc-00000000000000000"
  use_name_prefix = false

  # Target type ip: the shared ALB sends traffic straight to the pods (nginx sidecar), so only its security
  # group may. The kubelet probes every pod from the nodes' security group, on the probe ports only.
  ingress_with_source_security_group_id = [
    {
      description              = "HTTP from the shared load balancer to the nginx sidecar"
      from_port                = 8081
      to_port                  = 8081
      protocol                 = "tcp"
      source_security_group_id = "sg-0000000000000000a"
    },
    {
      description              = "Kubelet probes from the cluster's nodes (app port)"
      from_port                = 8080
      to_port                  = 8080
      protocol                 = "tcp"
      source_security_group_id = "sg-0000000000000000b"
    },
    {
      description              = "Kubelet probes from the cluster's nodes (nginx sidecar port)"
      from_port                = 8081
      to_port                  = 8081
      protocol                 = "tcp"
      source_security_group_id = "sg-0000000000000000b"
    },
    {
      description              = "Kubelet probes from the cluster's nodes (filebeat sidecar port)"
      from_port                = 9601
      to_port                  = 9601
      protocol                 = "tcp"
      source_security_group_id = "sg-0000000000000000b"
    },
  ]

  egress_rules = ["all-all"]

  tags = local.tags
}
