mock_provider "aws" {}

variables {
  name            = "faro-test"
  vpc_id          = "vpc-0123456789abcdef0"
  vpn_client_cidr = "203.0.113.0/24"
}

run "rules_reference_security_groups" {
  command = apply

  assert {
    condition     = alltrue([for r in aws_vpc_security_group_ingress_rule.sg : r.referenced_security_group_id != null && r.cidr_ipv4 == null && r.cidr_ipv6 == null])
    error_message = "internal ingress rules must reference a security group ID, not a CIDR"
  }

  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.sg["nodes_to_rds"].security_group_id == aws_security_group.rds.id &&
      aws_vpc_security_group_ingress_rule.sg["nodes_to_rds"].referenced_security_group_id == aws_security_group.nodes.id &&
      aws_vpc_security_group_ingress_rule.sg["nodes_to_rds"].from_port == 5432
    )
    error_message = "RDS must accept 5432 from the node SG"
  }

  assert {
    condition = alltrue([
      for k in ["nodes_to_qdrant_http", "nodes_to_qdrant_grpc"] :
      aws_vpc_security_group_ingress_rule.sg[k].security_group_id == aws_security_group.qdrant.id &&
      aws_vpc_security_group_ingress_rule.sg[k].referenced_security_group_id == aws_security_group.nodes.id
    ]) && toset([for k in ["nodes_to_qdrant_http", "nodes_to_qdrant_grpc"] : aws_vpc_security_group_ingress_rule.sg[k].from_port]) == toset([6333, 6334])
    error_message = "Qdrant must accept 6333 and 6334 from the node SG"
  }

  assert {
    condition = alltrue([
      for k in ["bastion_to_nodes_ssh", "bastion_to_rds", "bastion_to_qdrant_ssh", "bastion_to_qdrant_http"] :
      aws_vpc_security_group_ingress_rule.sg[k].referenced_security_group_id == aws_security_group.bastion.id
    ])
    error_message = "admin ports must be opened to the bastion SG"
  }

  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.bastion_vpn.cidr_ipv4 == "203.0.113.0/24" &&
      aws_vpc_security_group_ingress_rule.bastion_vpn.ip_protocol == "udp" &&
      aws_vpc_security_group_ingress_rule.bastion_vpn.from_port == 1194 &&
      aws_vpc_security_group_ingress_rule.bastion_vpn.to_port == 1194 &&
      aws_vpc_security_group_ingress_rule.bastion_vpn.security_group_id == aws_security_group.bastion.id
    )
    error_message = "the bastion must accept only 1194/udp from vpn_client_cidr"
  }

  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.bastion_ssh_vpn_pool.cidr_ipv4 == "172.27.224.0/20" &&
      aws_vpc_security_group_ingress_rule.bastion_ssh_vpn_pool.from_port == 22
    )
    error_message = "SSH to the bastion must come from the VPN client pool"
  }

  assert {
    # No ingress rule other than the VPN port is open to the whole internet.
    condition = alltrue([
      for r in concat(values(aws_vpc_security_group_ingress_rule.sg), [aws_vpc_security_group_ingress_rule.bastion_ssh_vpn_pool]) :
      r.cidr_ipv4 != "0.0.0.0/0" && r.cidr_ipv6 != "::/0"
    ])
    error_message = "only the VPN port rule may take traffic from outside the VPC"
  }

  assert {
    condition     = !contains(keys(aws_vpc_security_group_egress_rule.all), "rds")
    error_message = "RDS needs no egress rule"
  }

  assert {
    # Qdrant's peer port (6335) is open between Qdrant nodes and to nothing else.
    condition = [
      for key, r in aws_vpc_security_group_ingress_rule.sg : key
      if try(r.from_port <= 6335 && r.to_port >= 6335, false)
      ] == ["qdrant_peers"] && (
      aws_vpc_security_group_ingress_rule.sg["qdrant_peers"].referenced_security_group_id == aws_security_group.qdrant.id
    ) && aws_vpc_security_group_ingress_rule.sg["qdrant_peers"].security_group_id == aws_security_group.qdrant.id
    error_message = "6335 must be open only from the Qdrant security group to itself"
  }
}

run "rejects_open_vpn_cidr" {
  command = plan

  variables {
    vpn_client_cidr = "0.0.0.0/0"
  }

  expect_failures = [var.vpn_client_cidr]
}

run "rejects_open_vpn_pool" {
  command = plan

  variables {
    vpn_pool_cidr = "0.0.0.0/0"
  }

  expect_failures = [var.vpn_pool_cidr]
}
