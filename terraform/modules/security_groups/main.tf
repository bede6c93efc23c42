resource "aws_security_group" "nodes" {
  name_prefix = "${var.name}-eks-nodes-"
  description = "EKS worker nodes of Faro"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-eks-nodes" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_security_group" "rds" {
  name_prefix = "${var.name}-rds-"
  description = "Faro PostgreSQL (pgvector)"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-rds" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_security_group" "qdrant" {
  name_prefix = "${var.name}-qdrant-"
  description = "Faro Qdrant EC2 instance"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-qdrant" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_security_group" "bastion" {
  name_prefix = "${var.name}-bastion-"
  description = "Faro OpenVPN bastion"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-bastion" })

  lifecycle {
    create_before_destroy = true
  }
}

locals {
  # Every ingress rule except the VPN port references another security group by ID.
  sg_ingress = {
    nodes_self_all = {
      sg   = aws_security_group.nodes.id, src = aws_security_group.nodes.id, proto = "-1", from = null, to = null
      desc = "node to node and pod to pod"
    }
    nodes_to_rds = {
      sg   = aws_security_group.rds.id, src = aws_security_group.nodes.id, proto = "tcp", from = 5432, to = 5432
      desc = "PostgreSQL from the EKS nodes"
    }
    nodes_to_qdrant_http = {
      sg   = aws_security_group.qdrant.id, src = aws_security_group.nodes.id, proto = "tcp", from = 6333, to = 6333
      desc = "Qdrant HTTP from the EKS nodes"
    }
    nodes_to_qdrant_grpc = {
      sg   = aws_security_group.qdrant.id, src = aws_security_group.nodes.id, proto = "tcp", from = 6334, to = 6334
      desc = "Qdrant gRPC from the EKS nodes"
    }
    qdrant_peers = {
      sg   = aws_security_group.qdrant.id, src = aws_security_group.qdrant.id, proto = "tcp", from = 6335, to = 6335
      desc = "Qdrant cluster peer traffic (Raft and shard transfers), between Qdrant nodes only"
    }
    bastion_to_nodes_ssh = {
      sg   = aws_security_group.nodes.id, src = aws_security_group.bastion.id, proto = "tcp", from = 22, to = 22
      desc = "SSH from the bastion"
    }
    bastion_to_rds = {
      sg   = aws_security_group.rds.id, src = aws_security_group.bastion.id, proto = "tcp", from = 5432, to = 5432
      desc = "PostgreSQL admin from the bastion"
    }
    bastion_to_qdrant_ssh = {
      sg   = aws_security_group.qdrant.id, src = aws_security_group.bastion.id, proto = "tcp", from = 22, to = 22
      desc = "SSH from the bastion"
    }
    bastion_to_qdrant_http = {
      sg   = aws_security_group.qdrant.id, src = aws_security_group.bastion.id, proto = "tcp", from = 6333, to = 6333
      desc = "Qdrant admin HTTP from the bastion"
    }
    bastion_self_ssh = {
      sg   = aws_security_group.bastion.id, src = aws_security_group.bastion.id, proto = "tcp", from = 22, to = 22
      desc = "SSH between bastion group members"
    }
  }
}

resource "aws_vpc_security_group_ingress_rule" "sg" {
  for_each = local.sg_ingress

  security_group_id            = each.value.sg
  referenced_security_group_id = each.value.src
  ip_protocol                  = each.value.proto
  from_port                    = each.value.from
  to_port                      = each.value.to
  description                  = each.value.desc
  tags                         = merge(var.tags, { Name = "${var.name}-${each.key}" })
}

# The only ingress from the internet: OpenVPN on the bastion, from the VPN clients' CIDR.
resource "aws_vpc_security_group_ingress_rule" "bastion_vpn" {
  security_group_id = aws_security_group.bastion.id
  cidr_ipv4         = var.vpn_client_cidr
  ip_protocol       = "udp"
  from_port         = var.vpn_port
  to_port           = var.vpn_port
  description       = "OpenVPN from the VPN clients"
  tags              = merge(var.tags, { Name = "${var.name}-bastion-vpn" })
}

# SSH to the bastion over the tunnel: from the OpenVPN client pool only.
resource "aws_vpc_security_group_ingress_rule" "bastion_ssh_vpn_pool" {
  security_group_id = aws_security_group.bastion.id
  cidr_ipv4         = var.vpn_pool_cidr
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  description       = "SSH from the OpenVPN client pool"
  tags              = merge(var.tags, { Name = "${var.name}-bastion-ssh-vpn-pool" })
}

# Egress: nodes and bastion need the internet (via NAT / IGW) for images, AWS APIs and VPN replies;
# Qdrant needs it (via NAT) for its package download and SSM; RDS needs no egress.
resource "aws_vpc_security_group_egress_rule" "all" {
  for_each = {
    nodes   = aws_security_group.nodes.id
    qdrant  = aws_security_group.qdrant.id
    bastion = aws_security_group.bastion.id
  }

  security_group_id = each.value
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
  description       = "all outbound"
  tags              = merge(var.tags, { Name = "${var.name}-${each.key}-egress" })
}
